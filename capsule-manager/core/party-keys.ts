// A party's signing identity: an RSA-2048 key and a self-signed certificate
// (what Trustflow's `cms generate-rsa-keys` produces). The certificate is what
// RegisterCert uploads and what JWS x5c carries; party_id derives from its key.
import { createHash, createPublicKey, generateKeyPairSync, webcrypto, type KeyObject } from 'node:crypto';
import { x509 } from '../../foundation/x509.ts';
import { partyIdOfKey } from './party-id.ts';

export interface PartyKeys {
  privateKey: KeyObject;
  privateKeyPem: string;
  certPem: string;
  partyId: string;
}

export async function selfSignedCertFor(privateKey: KeyObject, commonName: string, days = 3650): Promise<string> {
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
  const pubDer = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const priv = await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), alg, false, ['sign']);
  const pub = await webcrypto.subtle.importKey('spki', pubDer, alg, true, ['verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: createHash('sha256').update(pubDer).update(String(now)).digest('hex').slice(0, 16).replace(/^[89a-f]/, '1'),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * 24 * 3600_000),
    keys: { privateKey: priv, publicKey: pub },
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  return cert.toString('pem');
}

export async function generatePartyKeys(commonName = 'party'): Promise<PartyKeys> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return partyKeysFrom(privateKey, await selfSignedCertFor(privateKey, commonName));
}

export function partyKeysFrom(privateKey: KeyObject, certPem: string): PartyKeys {
  return { privateKey, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, certPem, partyId: partyIdOfKey(createPublicKey(privateKey)) };
}
