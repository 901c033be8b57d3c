// TDX attester: a quote through configfs-tsm (provider tdx_guest). The legacy
// /dev/tdx_guest only yields a TDREPORT (needs a QGS round trip to become a
// quote) and an ioctl, so it counts for detection but not for quotes.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tsmAvailable, tsmGetReport } from '../../transport/configfs-tsm.ts';
import { PlatformError } from '../../errors.ts';
import { padReportData } from '../../core/report-data.ts';
import type { Attester, Evidence } from '../../core/types.ts';

async function tdxGuestPresent(root: string): Promise<boolean> {
  // Cheap hint without creating an entry: the tdx_guest misc device or sysfs node.
  for (const p of ['dev/tdx_guest', 'dev/tdx-guest', 'sys/devices/virtual/misc/tdx_guest']) {
    try {
      await access(join(root, p));
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

export function createTdxAttester(root = '/'): Attester {
  return {
    platform: 'tdx',
    async detect() {
      return (await tsmAvailable(root)) && (await tdxGuestPresent(root));
    },
    async getEvidence(reportData: Uint8Array): Promise<Evidence> {
      const inblob = padReportData(reportData);
      if (!(await tsmAvailable(root))) throw new PlatformError('NO_PLATFORM', 'TDX quotes need configfs-tsm (Linux 6.7+): /sys/kernel/config/tsm/report is missing');
      const r = await tsmGetReport(root, { inblob, provider: 'tdx_guest' });
      return { platform: 'tdx', quote: new Uint8Array(r.outblob) };
    },
  };
}

/** Reads TDX measurement registers from sysfs (Linux 6.16+), when present. */
export async function readTdxSysfsMeasurements(root = '/'): Promise<Record<string, string>> {
  const dir = join(root, 'sys/devices/virtual/misc/tdx_guest/measurements');
  const out: Record<string, string> = {};
  for (const n of ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3']) {
    try {
      out[n] = (await readFile(join(dir, `${n}:sha384`))).toString('hex');
    } catch {
      /* absent on older kernels */
    }
  }
  return out;
}
