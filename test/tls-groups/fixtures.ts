// Shared inputs of the tls-groups tests.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Claims } from '../../platforms/core/types.ts';

export const DATA_KEY = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
export const SIM_CLAIMS: Claims = {
  platform: 'sim',
  measurements: { mr_td: 'ab'.repeat(48), rtmr3: 'cd'.repeat(48) },
  reportData: '00'.repeat(64),
  tcb: { status: 'UpToDate' },
  debug: false,
  insecure: true,
  checks: [],
};
export const EVIDENCE_DIGEST = createHash('sha256').update('evidence').digest();

export function p256(): { privateKey: KeyObject; publicKeyPem: string; privateKeyPem: string } {
  const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKey: kp.privateKey,
    publicKeyPem: kp.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    privateKeyPem: kp.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}
