// TPM 2.0 attester: TPM2_Quote over the configured PCRs (sha256 bank) with the
// AK at a persistent handle (default 0x81010002), the 64-byte report data as
// qualifyingData, plus the PCR values and the AK public key as aux. Talks to
// /dev/tpmrm0 (the kernel resource manager) by writing a command and reading
// the response; the transport is injectable for other TPM access paths.
import { access, open } from 'node:fs/promises';
import { join } from 'node:path';
import { PlatformError } from '../../errors.ts';
import { padReportData } from '../../core/report-data.ts';
import type { Attester, Evidence } from '../../core/types.ts';
import { ALG } from './attest.ts';
import { tpmPcrRead, tpmQuote, tpmReadPublic, type TpmTransport } from './commands.ts';

export const DEFAULT_AK_HANDLE = 0x81010002;
export const DEFAULT_PCRS = [0, 1, 2, 3, 4, 5, 6, 7];

export function deviceTransport(path: string): TpmTransport {
  return {
    async transmit(cmd) {
      const fh = await open(path, 'r+');
      try {
        await fh.write(cmd);
        const buf = Buffer.alloc(8192);
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        return buf.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    },
  };
}

export interface TpmAttesterOptions {
  root?: string;
  akHandle?: number;
  pcrs?: number[];
  transport?: TpmTransport;
}

export function createTpmAttester(o: TpmAttesterOptions = {}): Attester {
  const device = join(o.root ?? '/', 'dev/tpmrm0');
  const transport = o.transport ?? deviceTransport(device);
  const pcrs = o.pcrs ?? DEFAULT_PCRS;
  if (pcrs.some((p) => !Number.isInteger(p) || p < 0 || p > 23)) throw new PlatformError('INVALID_INPUT', 'TPM PCR indexes must be 0..23');
  return {
    platform: 'tpm',
    async detect() {
      if (o.transport) return true;
      try {
        await access(device);
        return true;
      } catch {
        return false;
      }
    },
    async getEvidence(reportData: Uint8Array): Promise<Evidence> {
      const rd = padReportData(reportData);
      const ak = o.akHandle ?? DEFAULT_AK_HANDLE;
      const sel = { hash: ALG.SHA256, pcrs: [...pcrs].sort((a, b) => a - b) };
      const { attest, signature } = await tpmQuote(transport, ak, rd, [sel]);
      const values = await tpmPcrRead(transport, sel);
      const akPub = await tpmReadPublic(transport, ak);
      return {
        platform: 'tpm',
        quote: new Uint8Array(attest),
        aux: {
          signature: signature.toString('base64'),
          pcrs: JSON.stringify({ sha256: Object.fromEntries([...values].map(([i, v]) => [String(i), v.toString('hex')])) }),
          ak_public: akPub.export({ type: 'spki', format: 'der' }).toString('base64'),
        },
      };
    },
  };
}
