// The native helper (native/aenv-tee-helper, built by scripts/setup.sh into
// .tools/bin/aenv-tee-helper) does the guest-driver ioctls Node cannot issue
// and the AF_VSOCK hop to the TDX QGS. One subcommand per run, no shell: input
// hex on stdin, one JSON object on stdout, a JSON error on stderr.
//
// TEE_ABI is what this side assumes about the kernel structures the helper
// fills and hands back (sizes, offsets). `aenv-tee-helper layout` prints the
// same table as compiled against the uapi headers; test/native/tee-helper-layout
// compares the two, so a header change cannot silently shift a field.
import { isExecutable } from '../../foundation/paths.ts';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../foundation/project-root.ts';
import { PlatformError } from '../errors.ts';

type Field = readonly [offset: number, size: number];
interface StructAbi {
  size: number;
  fields: Record<string, Field>;
}

/** Kernel ABI (x86-64) of the structures the helper passes to the guest drivers. */
export const TEE_ABI = {
  structs: {
    // <linux/tdx-guest.h>
    tdx_report_req: { size: 1088, fields: { reportdata: [0, 64], tdreport: [64, 1024] } },
    // <linux/sev-guest.h>
    snp_report_req: { size: 96, fields: { user_data: [0, 64], vmpl: [64, 4], rsvd: [68, 28] } },
    snp_report_resp: { size: 4000, fields: { data: [0, 4000] } },
    snp_ext_report_req: { size: 112, fields: { data: [0, 96], certs_address: [96, 8], certs_len: [104, 4] } },
    snp_guest_request_ioctl: { size: 32, fields: { msg_version: [0, 1], req_data: [8, 8], resp_data: [16, 8], exitinfo2: [24, 8], fw_error: [24, 4], vmm_error: [28, 4] } },
    // Hygon csv-guest driver (no uapi header): { u8 *report_data; int len; }
    aenv_csv_report_req: { size: 16, fields: { report_data: [0, 8], len: [8, 4] } },
    // <linux/vm_sockets.h>
    sockaddr_vm: { size: 16, fields: { svm_family: [0, 2], svm_port: [4, 4], svm_cid: [8, 4] } },
  } satisfies Record<string, StructAbi>,
  ioctls: {
    TDX_CMD_GET_REPORT0: 0xc4405401,
    SNP_GET_REPORT: 0xc0205300,
    SNP_GET_EXT_REPORT: 0xc0205302,
    CSV_CMD_GET_REPORT: 0xc0104401,
  },
  constants: { TDX_REPORTDATA_LEN: 64, TDX_REPORT_LEN: 1024, AF_VSOCK: 40, VMADDR_CID_HOST: 2, SNP_CERTS_MAX: 16384, CSV_REQUEST_LEN: 112, CSV_DEFAULT_LEN: 4096 },
} as const;

/** Offsets inside the buffers the drivers return (firmware formats, not uapi structs). */
export const TEE_FORMATS = {
  /** TDREPORT_STRUCT: REPORTMACSTRUCT (256) || TEE_TCB_INFO (239) || reserved (17) || TDINFO (512). */
  tdreport: { size: 1024, reportData: [128, 64] as Field, mrTd: [512 + 16, 48] as Field },
  /** MSG_REPORT_RSP in snp_report_resp.data: status u32, report_size u32, reserved[24], report. */
  snpReportResp: { status: 0, reportSize: 4, report: 32 },
  /** The SNP certificate table: 24-byte entries {GUID, u32 offset, u32 length}, zero entry last. */
  snpCertEntry: 24,
} as const;

export const TEE_HELPER_NAME = 'aenv-tee-helper';


/** The helper binary: the option, else $AENV_TEE_HELPER, else .tools/bin/aenv-tee-helper of this checkout. */
export function teeHelperPath(explicit?: string): string {
  const p = explicit ?? process.env.AENV_TEE_HELPER ?? join(PROJECT_ROOT, '.tools', 'bin', TEE_HELPER_NAME);
  if (!isExecutable(p)) {
    throw new PlatformError('DEVICE_ERROR', `the native helper ${TEE_HELPER_NAME} is not an executable file at ${p}: run scripts/setup.sh (it builds native/aenv-tee-helper), or set teeHelper / AENV_TEE_HELPER`);
  }
  return p;
}

/** What the helper reported on failure (its JSON on stderr). */
export interface TeeHelperFailure {
  error: string;
  errno: number;
  errno_name?: string;
  message?: string;
  fw_error?: number;
  vmm_error?: number;
}

export interface RunTeeHelperOptions {
  helper?: string;
  timeoutMs?: number;
  /** Extra environment (tests: LD_PRELOAD of the fake-driver shim). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs one helper subcommand; resolves its JSON answer. A failure is a
 * DEVICE_ERROR whose details carry the helper's errno / firmware error.
 */
export function runTeeHelper(cmd: string, args: string[], stdinHex: string, o: RunTeeHelperOptions = {}): Promise<Record<string, unknown>> {
  const bin = teeHelperPath(o.helper);
  const timeout = o.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = execFile(bin, [cmd, ...args], { encoding: 'utf8', maxBuffer: 4 << 20, timeout, killSignal: 'SIGKILL', env: o.env ? { ...process.env, ...o.env } : process.env, windowsHide: true }, (err, stdout, stderr) => {
      if (!err) {
        try {
          resolve(JSON.parse(stdout) as Record<string, unknown>);
        } catch (cause) {
          reject(new PlatformError('DEVICE_ERROR', `${TEE_HELPER_NAME} ${cmd}: its output is not JSON`, { cause }));
        }
        return;
      }
      const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string };
      if (e.killed || e.signal) {
        reject(new PlatformError('DEVICE_ERROR', `${TEE_HELPER_NAME} ${cmd}: no answer within ${timeout} ms (killed)`, { cause: err }));
        return;
      }
      let f: TeeHelperFailure | undefined;
      try {
        f = JSON.parse(stderr.trim().split('\n').pop() ?? '') as TeeHelperFailure;
      } catch {
        /* not JSON: report the raw text */
      }
      if (!f || typeof f.error !== 'string') {
        reject(new PlatformError('DEVICE_ERROR', `${TEE_HELPER_NAME} ${cmd} failed: ${stderr.trim() || e.message}`, { cause: err }));
        return;
      }
      const fw = f.fw_error !== undefined || f.vmm_error !== undefined ? ` (firmware error 0x${(f.fw_error ?? 0).toString(16)}, VMM error 0x${(f.vmm_error ?? 0).toString(16)})` : '';
      reject(
        new PlatformError('DEVICE_ERROR', `${TEE_HELPER_NAME} ${cmd}: ${f.error} failed${f.errno ? `: ${f.errno_name} ${f.message ?? ''}`.trimEnd() : ''}${fw}`, {
          cause: err,
          details: { helperError: f.error, errno: f.errno, errnoName: f.errno_name, fwError: f.fw_error, vmmError: f.vmm_error },
        }),
      );
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdinHex);
  });
}

/** A hex field of the helper's answer as bytes, with its expected length checked. */
export function hexField(answer: Record<string, unknown>, name: string, length?: number): Buffer {
  const v = answer[name];
  if (typeof v !== 'string' || !/^([0-9a-f]{2})*$/.test(v)) throw new PlatformError('DEVICE_ERROR', `${TEE_HELPER_NAME}: answer field ${name} is not hex`);
  const b = Buffer.from(v, 'hex');
  if (length !== undefined && b.length !== length) throw new PlatformError('DEVICE_ERROR', `${TEE_HELPER_NAME}: ${name} is ${b.length} bytes, expected ${length}`);
  return b;
}
