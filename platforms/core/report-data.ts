// REPORT_DATA is 64 bytes on every platform; callers may pass less (zero-padded).
import { PlatformError } from '../errors.ts';

export function padReportData(reportData: Uint8Array): Buffer {
  if (!(reportData instanceof Uint8Array)) throw new PlatformError('INVALID_INPUT', 'report data must be bytes');
  if (reportData.length > 64) throw new PlatformError('INVALID_INPUT', `report data is ${reportData.length} bytes; at most 64 are allowed`);
  const out = Buffer.alloc(64);
  out.set(reportData);
  return out;
}
