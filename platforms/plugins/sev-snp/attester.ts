// SEV-SNP attester. Two report paths, tried in this order:
//  1. configfs-tsm (Linux 6.7+, provider sev_guest, privlevel = VMPL): the report
//     in outblob, the host's certificate table in auxblob (-> aux.cert_table).
//  2. /dev/sev-guest (Linux 5.19+) through the native helper: SNP_GET_EXT_REPORT
//     (struct snp_ext_report_req {snp_report_req {user_data[64], vmpl, rsvd[28]},
//     certs_address, certs_len} in snp_guest_request_ioctl {msg_version 1,
//     req_data, resp_data, exitinfo2 = fw_error | vmm_error << 32}); the kernel
//     answers "buffer too small" (EIO, vmm_error 1, certs_len = the size needed)
//     and the helper retries once with that size. The table (GUID entries for
//     VCEK/VLEK/ASK/ARK...) is cut to the extent its entries cover, like the
//     kernel's configfs auxblob. With snpExtendedReport false, or when the kernel
//     refuses the extended request before sending it (EINVAL), SNP_GET_REPORT:
//     no certificates, the verifier then needs its VCEK from snpVcekProvider.
// snp_report_resp.data is MSG_REPORT_RSP: status, report_size, 24 reserved
// bytes, the report; a non-zero status is the firmware's refusal.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { tsmAvailable, tsmGetReport } from '../../transport/configfs-tsm.ts';
import { hexField, runTeeHelper, TEE_ABI, TEE_FORMATS } from '../../transport/tee-helper.ts';
import { PlatformError } from '../../errors.ts';
import { padReportData } from '../../core/report-data.ts';
import type { Attester, Evidence } from '../../core/types.ts';
import { parseSnpReport, SNP_REPORT_SIZE } from './report.ts';

const EINVAL = 22;

/** The certificate table cut to the bytes its entries cover (undefined when it has none), as configfs-tsm's auxblob. */
export function trimCertTable(buf: Buffer): Buffer | undefined {
  const E = TEE_FORMATS.snpCertEntry;
  let end = 0;
  let off = 0;
  for (; off + E <= buf.length; off += E) {
    const guidZero = buf.subarray(off, off + 16).every((b) => b === 0);
    const o = buf.readUInt32LE(off + 16);
    const len = buf.readUInt32LE(off + 20);
    if (guidZero && o === 0 && len === 0) break;
    end = Math.max(end, o + len);
  }
  if (end === 0) return undefined;
  if (off + E > buf.length || end > buf.length) throw new PlatformError('DEVICE_ERROR', 'the SEV-SNP certificate table from the host is not terminated or points outside its buffer');
  return buf.subarray(0, Math.max(end, off + E));
}

/** The report inside snp_report_resp.data (MSG_REPORT_RSP), checked. */
export function reportFromResponse(resp: Buffer): Buffer {
  const f = TEE_FORMATS.snpReportResp;
  const status = resp.readUInt32LE(f.status);
  if (status !== 0) throw new PlatformError('DEVICE_ERROR', `the SEV-SNP firmware refused the report request (MSG_REPORT_RSP status 0x${status.toString(16)})`);
  const size = resp.readUInt32LE(f.reportSize);
  if (size !== SNP_REPORT_SIZE || f.report + size > resp.length) throw new PlatformError('DEVICE_ERROR', `the SEV-SNP firmware returned a ${size}-byte report, expected ${SNP_REPORT_SIZE}`);
  return Buffer.from(resp.subarray(f.report, f.report + size));
}

export interface SnpAttesterOptions {
  root?: string;
  /** VMPL: configfs privlevel, or snp_report_req.vmpl (default 0 on the ioctl path). */
  privLevel?: number;
  /** Use SNP_GET_EXT_REPORT to get the host's certificate table (default true). */
  extendedReport?: boolean;
  /** Path of the native helper (default: $AENV_TEE_HELPER, .tools/bin/aenv-tee-helper). */
  teeHelper?: string;
  timeoutMs?: number;
}

export function createSnpAttester(opts: SnpAttesterOptions | string = {}, privLevel?: number): Attester {
  const o: SnpAttesterOptions = typeof opts === 'string' ? { root: opts, privLevel } : opts;
  const root = o.root ?? '/';
  const device = join(root, 'dev/sev-guest');
  const present = () =>
    access(device).then(
      () => true,
      () => false,
    );
  async function viaIoctl(rd: Buffer): Promise<Evidence> {
    const vmpl = o.privLevel ?? 0;
    const args = ['--device', device, '--vmpl', String(vmpl)];
    const run = (cmd: string) => runTeeHelper(cmd, args, rd.toString('hex'), { helper: o.teeHelper, timeoutMs: o.timeoutMs ?? 90_000 });
    let answer: Record<string, unknown>;
    let extended = o.extendedReport !== false;
    try {
      answer = await run(extended ? 'snp-ext-report' : 'snp-report');
    } catch (e) {
      // EINVAL: refused before anything reached the firmware (no sequence number used): plain report.
      if (!extended || (e as PlatformError).details?.errno !== EINVAL) throw e;
      extended = false;
      answer = await run('snp-report');
    }
    const report = reportFromResponse(hexField(answer, 'resp', TEE_ABI.structs.snp_report_resp.size));
    const r = parseSnpReport(report);
    if (!r.reportData.equals(rd)) throw new PlatformError('DEVICE_ERROR', 'the SEV-SNP report does not carry the requested report data');
    if (r.vmpl !== vmpl) throw new PlatformError('DEVICE_ERROR', `the SEV-SNP report is for VMPL ${r.vmpl}, requested ${vmpl}`);
    const ev: Evidence = { platform: 'sev-snp', quote: new Uint8Array(report) };
    if (extended) {
      const table = trimCertTable(hexField(answer, 'certs'));
      if (table) ev.aux = { cert_table: table.toString('base64') };
    }
    return ev;
  }
  return {
    platform: 'sev-snp',
    async detect() {
      return present();
    },
    async getEvidence(reportData: Uint8Array): Promise<Evidence> {
      const inblob = padReportData(reportData);
      if (await tsmAvailable(root)) {
        const r = await tsmGetReport(root, { inblob, provider: 'sev_guest', privlevel: o.privLevel, wantAux: true });
        const ev: Evidence = { platform: 'sev-snp', quote: new Uint8Array(r.outblob) };
        if (r.auxblob) ev.aux = { cert_table: r.auxblob.toString('base64') };
        return ev;
      }
      if (await present()) return viaIoctl(inblob);
      throw new PlatformError('NO_PLATFORM', 'no SEV-SNP report path: neither configfs-tsm (/sys/kernel/config/tsm/report) nor /dev/sev-guest is present');
    },
  };
}
