// The synchronous node:crypto primitives behind JWE (RFC 7516/7518) as the
// ext-proc envelope and the capsule manager's request envelope use them:
// RSA-OAEP(-256) key transport, ECDH-ES Concat KDF (RFC 7518 4.6.2), AES key
// wrap (RFC 3394) and AES-GCM. Synchronous on purpose: for small messages the
// thread-pool hop of WebCrypto/jose costs more than the work (performance.md:
// ~4,000 vs ~2,300 RSA decrypts/s; a capsule manager request envelope opened
// 1.5 ms of CPU with jose vs 0.35 ms here). Tests cross-check every path
// against jose (test/ext-proc/core.test.ts, test/capsule-manager/core/envelope-jose.test.ts).
import { constants, createCipheriv, createDecipheriv, createHash, diffieHellman, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';

export const CONTENT_ENCS = ['A128GCM', 'A192GCM', 'A256GCM'] as const;
/** JWE `enc` values with AES-GCM. */
export type ContentEnc = (typeof CONTENT_ENCS)[number];

export const ENC_KEY_BYTES: Record<ContentEnc, number> = { A128GCM: 16, A192GCM: 24, A256GCM: 32 };
const GCM_CIPHER: Record<ContentEnc, 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm'> = { A128GCM: 'aes-128-gcm', A192GCM: 'aes-192-gcm', A256GCM: 'aes-256-gcm' };

export function rsaOaep256Decrypt(privateKey: KeyObject, encryptedKey: Buffer): Buffer {
  return rsaOaepDecrypt(privateKey, encryptedKey, 'sha256');
}

/** RSA-OAEP (hash sha1) or RSA-OAEP-256 (sha256) key transport, private side. */
export function rsaOaepDecrypt(privateKey: KeyObject, encryptedKey: Buffer, oaepHash: 'sha1' | 'sha256'): Buffer {
  return privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, encryptedKey);
}

/** RSA-OAEP (sha1) or RSA-OAEP-256 (sha256) key transport, public side. */
export function rsaOaepEncrypt(publicKey: KeyObject, key: Buffer, oaepHash: 'sha1' | 'sha256'): Buffer {
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, key);
}

function lengthPrefixed(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** Concat KDF with SHA-256 as JWA defines it for ECDH-ES. */
export function concatKdf(z: Buffer, keyBits: number, algorithmId: string, apu: Buffer, apv: Buffer): Buffer {
  const otherInfo = Buffer.concat([lengthPrefixed(Buffer.from(algorithmId, 'ascii')), lengthPrefixed(apu), lengthPrefixed(apv), Buffer.from([(keyBits >>> 24) & 255, (keyBits >>> 16) & 255, (keyBits >>> 8) & 255, keyBits & 255])]);
  const rounds = Math.ceil(keyBits / 256);
  const out: Buffer[] = [];
  for (let i = 1; i <= rounds; i++) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(i);
    out.push(createHash('sha256').update(counter).update(z).update(otherInfo).digest());
  }
  return Buffer.concat(out).subarray(0, keyBits / 8);
}

export function ecdh(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  return diffieHellman({ privateKey, publicKey });
}

const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

export function aesKeyUnwrap(kek: Buffer, wrapped: Buffer): Buffer {
  const d = createDecipheriv(`id-aes${kek.length * 8}-wrap` as 'id-aes256-wrap', kek, KW_IV);
  return Buffer.concat([d.update(wrapped), d.final()]);
}

export function aesKeyWrap(kek: Buffer, key: Buffer): Buffer {
  const c = createCipheriv(`id-aes${kek.length * 8}-wrap` as 'id-aes256-wrap', kek, KW_IV);
  return Buffer.concat([c.update(key), c.final()]);
}

/** GCM's final() is empty: no copy of a whole body into a new buffer for it. */
function joinFinal(out: Buffer, fin: Buffer): Buffer {
  return fin.length === 0 ? out : Buffer.concat([out, fin]);
}

export function gcmDecrypt(enc: ContentEnc, key: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer {
  const d = createDecipheriv(GCM_CIPHER[enc], key, iv, { authTagLength: 16 });
  d.setAAD(aad);
  d.setAuthTag(tag);
  return joinFinal(d.update(ciphertext), d.final());
}

// IVs come from a pool filled by one CSPRNG call per 341 IVs: randomBytes(12)
// per response was ~3% of ext-proc's CPU under load. Still 96 random bits each.
const IV_POOL_BYTES = 12 * 341;
let ivPool = Buffer.alloc(0);
let ivAt = IV_POOL_BYTES;
function nextIv(): Buffer {
  if (ivAt >= IV_POOL_BYTES) {
    ivPool = randomBytes(IV_POOL_BYTES);
    ivAt = 0;
  }
  const iv = ivPool.subarray(ivAt, ivAt + 12);
  ivAt += 12;
  return iv;
}

export function gcmEncrypt(enc: ContentEnc, key: Buffer, plaintext: Buffer, aad: Buffer): { iv: Buffer; ciphertext: Buffer; tag: Buffer } {
  // A fresh random 96-bit IV per message: the CEK of a request is reused for its
  // response, and session keys for many messages.
  const iv = nextIv();
  const c = createCipheriv(GCM_CIPHER[enc], key, iv, { authTagLength: 16 });
  c.setAAD(aad);
  const ciphertext = joinFinal(c.update(plaintext), c.final());
  return { iv, ciphertext, tag: c.getAuthTag() };
}
