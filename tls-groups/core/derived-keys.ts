// Deterministic key pairs from HKDF output (pure). Two replicas holding the same
// data key compute the same keys without sharing any state.
//
// - CA: Ed25519, seed = expand(groupKey, "ca-key", 32). Ed25519 signatures are
//   deterministic (RFC 8032), so certificates the CA signs over identical
//   TBS bytes are byte-identical on every replica. (ECDSA as implemented by
//   OpenSSL draws a random nonce, which would break that.)
// - Shared asset (Trustflow form): P-256, because Envoy only serves RSA/ECDSA
//   certificates. The scalar is expand(groupKey, "shared-key/<i>", 32) for the
//   first i whose value lies in [1, n-1] (rejection sampling: no modulo bias).
import { createECDH, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { expandGroupKey } from './group-key.ts';

// PKCS#8 PrivateKeyInfo prefix for an Ed25519 private key (RFC 8410 §7): the
// 32-byte seed follows.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

export interface DerivedKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function ed25519FromSeed(seed: Buffer): DerivedKeyPair {
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

export function p256FromScalar(d: Buffer): DerivedKeyPair {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const pub = ecdh.getPublicKey(undefined, 'uncompressed');
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    d: d.toString('base64url'),
    x: pub.subarray(1, 33).toString('base64url'),
    y: pub.subarray(33, 65).toString('base64url'),
  };
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

export function deriveCaKeyPair(groupKey: Buffer): DerivedKeyPair {
  return ed25519FromSeed(expandGroupKey(groupKey, 'ca-key', 32));
}

export function deriveSharedKeyPair(groupKey: Buffer): DerivedKeyPair {
  for (let i = 0; i < 64; i++) {
    const d = expandGroupKey(groupKey, `shared-key/${i}`, 32);
    const v = BigInt(`0x${d.toString('hex')}`);
    if (v > 0n && v < P256_ORDER) return p256FromScalar(d);
  }
  // Probability ~2^-2048: unreachable in practice, but never loop forever.
  throw new Error('no valid P-256 scalar in 64 tries');
}
