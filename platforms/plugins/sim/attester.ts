// Sim attester: signs REPORT_DATA and configured measurements with the local
// P-256 key. Always "detected"; index.ts only picks it for 'auto' when asked.
import { sign } from 'node:crypto';
import { PlatformError } from '../../errors.ts';
import { padReportData } from '../../core/report-data.ts';
import type { Attester, Evidence } from '../../core/types.ts';
import { encodeSimBody } from './format.ts';
import type { SimSigningKey } from './signing-key.ts';

const HEX = /^([0-9a-f]{2}){1,1024}$/;

export interface SimAttester extends Attester {
  /** The PEM SPKI key verifiers must trust (trustedSimKeys). */
  readonly simPublicKeyPem: string;
}

export function createSimAttester(key: SimSigningKey, measurements: Record<string, string> = {}, debug = false): SimAttester {
  const m: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(measurements)) {
    const h = v.toLowerCase().replace(/^0x/, '');
    if (!HEX.test(h)) throw new PlatformError('INVALID_INPUT', `sim measurement ${k} must be hex`);
    m[k] = Buffer.from(h, 'hex');
  }
  return {
    platform: 'sim',
    simPublicKeyPem: key.publicKeyPem,
    detect: async () => true,
    async getEvidence(reportData: Uint8Array): Promise<Evidence> {
      const body = encodeSimBody({ debug, issuedAt: Date.now(), keyId: key.keyId, reportData: padReportData(reportData), measurements: m });
      const sig = sign('sha256', body, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
      return { platform: 'sim', quote: new Uint8Array(Buffer.concat([body, sig])) };
    },
  };
}
