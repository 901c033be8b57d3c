// Test harness: a software TPM 2.0 (swtpm, libtpms) on Unix sockets, attestation
// keys provisioned with tpm2-tools through its swtpm TCTI, and (optionally) a
// FUSE file standing in for /dev/tpmrm0 (test/native/fuse-tpm-device.c).
// scripts/setup.sh installs swtpm, tpm2-tools, libtss2-tcti-swtpm0 and
// libfuse3-dev; a missing one is a failure with the package to install.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';

function need(bin: string, pkg: string): string {
  for (const d of (process.env.PATH ?? '/usr/bin').split(':')) {
    const p = join(d, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error(`${bin} not found on PATH: run scripts/setup.sh (apt-get install ${pkg})`);
}

const run = promisify(execFile);

async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Swtpm {
  dir: string;
  /** The TPM command socket (TCG simulator protocol). */
  socket: string;
  /** Runs a tpm2-tools command against this TPM; resolves its stdout (async: the event loop keeps serving our own sockets). */
  tool(name: string, args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startSwtpm(): Promise<Swtpm> {
  const swtpm = need('swtpm', 'swtpm');
  const dir = mkdtempSync(join(tmpdir(), 'swtpm-'));
  const socket = join(dir, 'tpm.sock');
  // The swtpm TCTI of tpm2-tss finds the control channel at <socket>.ctrl.
  const child: ChildProcess = spawn(swtpm, ['socket', '--tpm2', '--tpmstate', `dir=${dir}`, '--server', `type=unixio,path=${socket}`, '--ctrl', `type=unixio,path=${socket}.ctrl`, '--flags', 'not-need-init,startup-clear'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  await waitFor(() => existsSync(socket) || child.exitCode !== null, 'swtpm to listen');
  if (child.exitCode !== null) throw new Error(`swtpm exited (${child.exitCode}): ${stderr}`);
  const tool = async (name: string, args: string[]) => {
    const bin = need(name, 'tpm2-tools libtss2-tcti-swtpm0');
    const { stdout } = await run(bin, args, { env: { ...process.env, TPM2TOOLS_TCTI: `swtpm:path=${socket}` }, encoding: 'utf8', timeout: 60_000 });
    return stdout;
  };
  return {
    dir,
    socket,
    tool,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Creates an EK (once) and an AK under it, persisted at `handle`; returns the AK public key (PEM, from tpm2-tools). */
export async function provisionAk(tpm: Swtpm, handle: number, kind: 'rsa' | 'ecc'): Promise<string> {
  const ek = '0x81010001';
  if (!(await tpm.tool('tpm2_getcap', ['handles-persistent'])).includes(ek)) await tpm.tool('tpm2_createek', ['-c', ek, '-G', 'rsa', '-u', join(tpm.dir, 'ek.pub')]);
  const ctx = join(tpm.dir, `ak-${handle.toString(16)}.ctx`);
  const pem = join(tpm.dir, `ak-${handle.toString(16)}.pem`);
  await tpm.tool('tpm2_createak', ['-C', ek, '-c', ctx, '-G', kind, '-g', 'sha256', '-s', kind === 'rsa' ? 'rsassa' : 'ecdsa', '-u', pem, '-f', 'pem', '-n', join(tpm.dir, `ak-${handle.toString(16)}.name`)]);
  // no resource manager in front of swtpm: flush what the tools left loaded
  await tpm.tool('tpm2_flushcontext', ['-t']);
  await tpm.tool('tpm2_flushcontext', ['-s']);
  await tpm.tool('tpm2_evictcontrol', ['-C', 'o', '-c', ctx, `0x${handle.toString(16)}`]);
  await tpm.tool('tpm2_flushcontext', ['-t']);
  return readFileSync(pem, 'utf8');
}

/** PCR values (sha256 bank) as tpm2_pcrread prints them. */
export async function pcrRead(tpm: Swtpm, pcrs: number[]): Promise<Map<number, string>> {
  const out = await tpm.tool('tpm2_pcrread', [`sha256:${pcrs.join(',')}`]);
  const m = new Map<number, string>();
  for (const [, i, v] of out.matchAll(/^\s*(\d+)\s*:\s*0x([0-9A-Fa-f]+)\s*$/gm)) m.set(Number(i), v!.toLowerCase());
  return m;
}

export interface FuseTpm {
  device: string;
  stop(): Promise<void>;
}

/** Mounts the FUSE stand-in for /dev/tpmrm0 at <root>/dev (needs /dev/fuse and root). */
export async function mountFuseTpm(root: string, swtpmSocket: string): Promise<FuseTpm> {
  const dir = mkdtempSync(join(tmpdir(), 'fuse-tpm-bin-'));
  const bin = join(dir, 'fuse-tpm-device');
  const pkg = (flag: string) => {
    try {
      return execFileSync(need('pkg-config', 'pkg-config'), [flag, 'fuse3'], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
    } catch (cause) {
      throw new Error('fuse3 development files missing: run scripts/setup.sh (apt-get install libfuse3-dev)', { cause });
    }
  };
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', ...pkg('--cflags'), '-o', bin, join(PROJECT_ROOT, 'test/native/fuse-tpm-device.c'), ...pkg('--libs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const mnt = join(root, 'dev');
  mkdirSync(mnt, { recursive: true });
  const child = spawn(bin, [mnt, swtpmSocket], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const device = join(mnt, 'tpmrm0');
  await waitFor(() => existsSync(device) || child.exitCode !== null, 'the FUSE TPM device to appear');
  if (child.exitCode !== null) throw new Error(`fuse-tpm-device exited (${child.exitCode}): ${stderr}`);
  return {
    device,
    stop: async () => {
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM'); // fuse_main unmounts on SIGTERM
        });
      }
      try {
        execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
      } catch {
        /* already unmounted */
      }
    },
  };
}
