// Hygon CSV attester. /dev/csv-guest takes CSV_CMD_GET_REPORT (_IOWR('D', 1,
// struct csv_report_req {u8 *report_data; int len}) = 0xC0104401) on a 4096-byte
// buffer whose first 112 bytes are the request {data[64], mnonce[16],
// SM3(data||mnonce)}; the firmware writes the report over the buffer. Node
// cannot issue ioctls, so the native helper does it (aenv-tee-helper csv-report,
// request hex on stdin); `csvReportCommand` replaces it with an external command
// (request hex as its last argument, report on stdout). The attester picks a
// fresh mnonce and checks the report carries it (the signer MAC is keyed by it),
// so a replayed report is refused.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hexField, runTeeHelper, TEE_ABI } from '../../transport/tee-helper.ts';
import { PlatformError } from '../../errors.ts';
import { padReportData } from '../../core/report-data.ts';
import type { Attester, Evidence } from '../../core/types.ts';
import { parseCsvReport } from './report.ts';

const run = promisify(execFile);

export function csvReportRequest(reportData: Buffer, mnonce: Buffer): Buffer {
  return Buffer.concat([reportData, mnonce, createHash('sm3').update(reportData).update(mnonce).digest()]);
}

export interface CsvAttesterOptions {
  root?: string;
  command?: string[];
  /** Directory with <chip serial>/hsk_cek.cert (Hygon's HSK||CEK for this chip), sent in aux. */
  hskCekDir?: string;
  /** Path of the native helper (default: $AENV_TEE_HELPER, .tools/bin/aenv-tee-helper). */
  teeHelper?: string;
  timeoutMs?: number;
  /** Source of the 16-byte mnonce (default: randomBytes); tests replay a known report with it. */
  mnonce?: () => Buffer;
}

export function createCsvAttester(o: CsvAttesterOptions = {}): Attester {
  const root = o.root ?? '/';
  const device = join(root, 'dev/csv-guest');
  async function report(request: Buffer): Promise<Buffer> {
    if (o.command && o.command.length > 0) {
      try {
        const { stdout } = await run(o.command[0]!, [...o.command.slice(1), request.toString('hex')], { encoding: 'buffer', maxBuffer: 1 << 20, timeout: o.timeoutMs ?? 30_000 });
        return stdout;
      } catch (cause) {
        throw new PlatformError('DEVICE_ERROR', 'the CSV report command failed', { cause });
      }
    }
    const len = TEE_ABI.constants.CSV_DEFAULT_LEN;
    const answer = await runTeeHelper('csv-report', ['--device', device, '--len', String(len)], request.toString('hex'), { helper: o.teeHelper, timeoutMs: o.timeoutMs ?? 30_000 });
    return hexField(answer, 'report', len);
  }
  return {
    platform: 'csv',
    async detect() {
      try {
        await access(device);
        return true;
      } catch {
        return false;
      }
    },
    async getEvidence(reportData: Uint8Array): Promise<Evidence> {
      const rd = padReportData(reportData);
      try {
        await access(device);
      } catch {
        if (!o.command) throw new PlatformError('NO_PLATFORM', `no Hygon CSV guest device at ${device}`);
      }
      const mnonce = o.mnonce ? o.mnonce() : randomBytes(16);
      if (mnonce.length !== 16) throw new PlatformError('INVALID_INPUT', 'the CSV mnonce must be 16 bytes');
      const out = await report(csvReportRequest(rd, mnonce));
      const r = parseCsvReport(out, 1);
      if (!r.mnonce.equals(mnonce)) throw new PlatformError('DEVICE_ERROR', 'the CSV report does not carry the mnonce of this request (stale or replayed report)');
      if (!r.reportData.equals(rd)) throw new PlatformError('DEVICE_ERROR', 'the CSV report does not carry the requested report data');
      const aux: Record<string, string> = { report_version: '1', chip_id: r.chipSn };
      if (o.hskCekDir && r.chipSn) {
        const pair = await readFile(join(o.hskCekDir, r.chipSn, 'hsk_cek.cert')).catch(() => undefined);
        if (pair) aux.hsk_cek = pair.toString('base64');
      }
      // The driver hands back the whole buffer: the report, then zeros. Keep the report.
      const quote = r.trailing.every((b) => b === 0) ? out.subarray(0, out.length - r.trailing.length) : out;
      return { platform: 'csv', quote: new Uint8Array(quote), aux };
    },
  };
}
