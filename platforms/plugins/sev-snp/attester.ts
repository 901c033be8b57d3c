// SEV-SNP attester: configfs-tsm (provider sev_guest, privlevel = VMPL) returns
// the report in outblob and the host's certificate table in auxblob, which goes
// into aux.cert_table. /dev/sev-guest (SNP_GET_EXT_REPORT) needs an ioctl Node
// cannot issue; without configfs-tsm the attester reports NO_PLATFORM.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { tsmAvailable, tsmGetReport } from '../../transport/configfs-tsm.ts';
import { PlatformError } from '../../errors.ts';
import { padReportData } from '../../core/report-data.ts';
import type { Attester, Evidence } from '../../core/types.ts';

export function createSnpAttester(root = '/', privLevel?: number): Attester {
  return {
    platform: 'sev-snp',
    async detect() {
      if (!(await tsmAvailable(root))) return false;
      try {
        await access(join(root, 'dev/sev-guest'));
        return true;
      } catch {
        return false;
      }
    },
    async getEvidence(reportData: Uint8Array): Promise<Evidence> {
      const inblob = padReportData(reportData);
      if (!(await tsmAvailable(root))) throw new PlatformError('NO_PLATFORM', 'SEV-SNP reports need configfs-tsm (Linux 6.7+): /sys/kernel/config/tsm/report is missing');
      const r = await tsmGetReport(root, { inblob, provider: 'sev_guest', privlevel: privLevel, wantAux: true });
      const ev: Evidence = { platform: 'sev-snp', quote: new Uint8Array(r.outblob) };
      if (r.auxblob) ev.aux = { cert_table: r.auxblob.toString('base64') };
      return ev;
    },
  };
}
