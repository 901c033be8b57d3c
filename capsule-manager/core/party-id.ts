// party_id = RFC 4648 base32 (no padding) of SHA-256(DER SubjectPublicKeyInfo),
// as Trustflow computes it, so the same key yields the same party everywhere.
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { CmError } from '../errors.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32NoPad(data: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export function partyIdOfKey(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return base32NoPad(createHash('sha256').update(der).digest());
}

/** Party id of a certificate's subject public key (PEM or DER). */
export function partyIdOfCert(cert: string | Buffer): string {
  return partyIdOfKey(parseCert(cert).publicKey);
}

export function parseCert(cert: string | Buffer): X509Certificate {
  try {
    const c = new X509Certificate(cert);
    // The key is decoded lazily: read it here so a certificate with an undecodable
    // key is INVALID_CERT, not a raw OpenSSL "decode error" at the first `.publicKey`.
    void c.publicKey;
    return c;
  } catch (cause) {
    throw new CmError('INVALID_CERT', 'not a valid X.509 certificate', { cause });
  }
}

const keyCache = new Map<string, KeyObject>();

/** Public key of a PEM certificate or SPKI key; cached (bounded) so repeat callers reuse one KeyObject. */
export function publicKeyOfPem(pem: string): KeyObject {
  const hit = keyCache.get(pem);
  if (hit) return hit;
  let key: KeyObject;
  try {
    key = pem.includes('CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(pem);
  } catch (cause) {
    throw new CmError('INVALID_CERT', 'not a valid certificate or public key', { cause });
  }
  if (keyCache.size >= 256) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(pem, key);
  return key;
}
