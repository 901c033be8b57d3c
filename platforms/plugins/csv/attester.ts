// Hygon CSV attester. /dev/csv-guest takes CSV_CMD_GET_REPORT (ioctl 0xC0104401)
// on a 4096-byte buffer pre-filled with {data[64], mnonce[16], SM3(data||mnonce)};
// Node cannot issue ioctls, so a helper command does it (csvReportCommand):
// it gets the 112-byte request as hex in its last argument and prints the
// report to stdout. The attester picks a fresh mnonce and checks the report
// carries it (the signer MAC is keyed by it), so a replayed report is refused.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
}

export function createCsvAttester(o: CsvAttesterOptions = {}): Attester {
  const root = o.root ?? '/';
  return {
    platform: 'csv',
    async detect() {
      if (!o.command || o.command.length === 0) return false;
      try {
        await access(join(root, 'dev/csv-guest'));
        return true;
      } catch {
        return false;
      }
    },
    async getEvidence(reportData: Uint8Array): Promise<Evidence> {
      const rd = padReportData(reportData);
      if (!o.command || o.command.length === 0) throw new PlatformError('NO_PLATFORM', 'CSV reports need an ioctl helper: configure csvReportCommand');
      const mnonce = randomBytes(16);
      let out: Buffer;
      try {
        ({ stdout: out } = await run(o.command[0]!, [...o.command.slice(1), csvReportRequest(rd, mnonce).toString('hex')], { encoding: 'buffer', maxBuffer: 1 << 20, timeout: 30_000 }));
      } catch (cause) {
        throw new PlatformError('DEVICE_ERROR', 'the CSV report command failed', { cause });
      }
      const r = parseCsvReport(out, 1);
      if (!r.mnonce.equals(mnonce)) throw new PlatformError('DEVICE_ERROR', 'the CSV report does not carry the mnonce of this request (stale or replayed report)');
      if (!r.reportData.equals(rd)) throw new PlatformError('DEVICE_ERROR', 'the CSV report does not carry the requested report data');
      const aux: Record<string, string> = { report_version: '1', chip_id: r.chipSn };
      if (o.hskCekDir && r.chipSn) {
        const pair = await readFile(join(o.hskCekDir, r.chipSn, 'hsk_cek.cert')).catch(() => undefined);
        if (pair) aux.hsk_cek = pair.toString('base64');
      }
      return { platform: 'csv', quote: new Uint8Array(out), aux };
    },
  };
}
