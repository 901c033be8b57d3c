// The deterministic group CA certificate (pure: same inputs, same bytes).
//
// Every field is a function of the group key: the Ed25519 key pair, the serial
// (from groupId and epoch), the subject, and a fixed validity window. Because
// Ed25519 signing is deterministic, every CM replica produces a byte-identical
// CA certificate, so a trust bundle fetched from any replica works with leaves
// issued by any other.
import { createHash, type KeyObject } from 'node:crypto';
import { x509 } from '../../foundation/x509.ts';
import { ed25519PublicKey, ed25519SigningKey, type CryptoKey } from './crypto-keys.ts';
import { deriveCaKeyPair } from './derived-keys.ts';
import type { GroupKey } from './group-key.ts';

// Fixed CA window. The CA does not expire in practice (leaves are short-lived);
// re-keying the group is done by bumping the epoch. 2049-12-31 is the last
// instant expressible as UTCTime (RFC 5280 §4.1.2.5), which every TLS stack parses.
export const CA_NOT_BEFORE = new Date('2025-01-01T00:00:00Z');
export const CA_NOT_AFTER = new Date('2049-12-31T23:59:59Z');

export interface GroupCa {
  groupId: string;
  certPem: string;
  cert: x509.X509Certificate;
  signingKey: CryptoKey;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Positive DER INTEGER serial from a label: 0x01 prefix avoids a negative/leading-zero encoding. */
export function deterministicSerial(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p, 'utf8').update('\0');
  return `01${h.digest('hex').slice(0, 30)}`;
}

export function caSubject(groupId: string): string {
  return `CN=aenv group ${groupId}, O=aenv`;
}

const caCache = new Map<string, Promise<GroupCa>>();

async function buildGroupCa(g: GroupKey): Promise<GroupCa> {
  const kp = deriveCaKeyPair(g.key);
  const signingKey = await ed25519SigningKey(kp.privateKey);
  const publicCryptoKey = await ed25519PublicKey(kp.publicKey);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: deterministicSerial('ca', g.groupId, String(g.epoch)),
    name: caSubject(g.groupId),
    notBefore: CA_NOT_BEFORE,
    notAfter: CA_NOT_AFTER,
    signingAlgorithm: { name: 'Ed25519' },
    keys: { privateKey: signingKey, publicKey: publicCryptoKey },
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicCryptoKey),
    ],
  });
  return { groupId: g.groupId, certPem: cert.toString('pem'), cert, signingKey, privateKey: kp.privateKey, publicKey: kp.publicKey };
}

/**
 * The group CA. Cached per group key (the key itself is the cache key's
 * preimage, hashed so the map holds no key material in its keys); bounded.
 */
export function groupCa(g: GroupKey): Promise<GroupCa> {
  const id = createHash('sha256').update(g.key).digest('hex');
  let p = caCache.get(id);
  if (!p) {
    if (caCache.size >= 256) caCache.delete(caCache.keys().next().value!);
    p = buildGroupCa(g);
    p.catch(() => caCache.delete(id));
    caCache.set(id, p);
  }
  return p;
}
