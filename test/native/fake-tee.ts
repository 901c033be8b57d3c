// Test harness for the native helper's device paths: compiles the LD_PRELOAD
// shim test/native/fake-tee-ioctl.c (it plays the TDX/SEV-SNP/CSV guest drivers
// and redirects AF_VSOCK to a Unix socket) and writes a wrapper script that runs
// the real .tools/bin/aenv-tee-helper under it. The attesters get the wrapper as
// their `teeHelper`, so everything from the TypeScript side down to the ioctl()
// call is the production code. A missing compiler or helper is a failure.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';
import { teeHelperPath } from '../../platforms/transport/tee-helper.ts';

let shim: string | undefined;

/** The compiled shim (once per process). */
export function fakeTeeShim(): string {
  if (shim) return shim;
  const dir = mkdtempSync(join(tmpdir(), 'fake-tee-so-'));
  const out = join(dir, 'fake-tee-ioctl.so');
  execFileSync('cc', ['-O2', '-std=c11', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-idirafter', join(PROJECT_ROOT, 'native/aenv-tee-helper/uapi'), '-o', out, join(PROJECT_ROOT, 'test/native/fake-tee-ioctl.c'), '-ldl'], { stdio: ['ignore', 'ignore', 'inherit'] });
  shim = out;
  return out;
}

export interface FakeTee {
  /** The root to give attesters (holds dev/<device> files). */
  root: string;
  /** Canned firmware answers: tdreport.bin, snp-report.bin, snp-certs.bin, csv-report.bin. */
  canned: string;
  /** The wrapper to pass as `teeHelper`. */
  helper: string;
  /** Each request the fake drivers saw, in order. */
  log(): Array<Record<string, unknown>>;
  /** Sets (or clears) an injected fault for the next runs. */
  fault(f: string | undefined): void;
  /** Redirects vsock connects to this Unix socket. */
  vsockTo(path: string | undefined): void;
}

export function createFakeTee(devices: string[]): FakeTee {
  const base = mkdtempSync(join(tmpdir(), 'fake-tee-'));
  const root = join(base, 'root');
  const canned = join(base, 'canned');
  mkdirSync(join(root, 'dev'), { recursive: true });
  mkdirSync(canned);
  for (const d of devices) writeFileSync(join(root, 'dev', d), '');
  const logFile = join(base, 'requests.jsonl');
  const helper = join(base, 'helper.sh');
  const state = { fault: '', vsock: '' };
  const write = () =>
    writeFileSync(
      helper,
      [
        '#!/bin/sh',
        `export LD_PRELOAD='${fakeTeeShim()}'`,
        `export FAKE_TEE_ROOT='${root}/'`,
        `export FAKE_TEE_DIR='${canned}'`,
        `export FAKE_TEE_LOG='${logFile}'`,
        `export FAKE_TEE_FAULT='${state.fault}'`,
        `export FAKE_VSOCK_UNIX='${state.vsock}'`,
        `exec '${teeHelperPath()}' "$@"`,
        '',
      ].join('\n'),
    );
  write();
  chmodSync(helper, 0o755);
  return {
    root,
    canned,
    helper,
    log: () => {
      let text = '';
      try {
        text = readFileSync(logFile, 'utf8');
      } catch {
        /* nothing logged yet */
      }
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    fault(f) {
      state.fault = f ?? '';
      write();
    },
    vsockTo(p) {
      state.vsock = p ?? '';
      write();
    },
  };
}
