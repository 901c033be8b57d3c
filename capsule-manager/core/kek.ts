// Data keys at rest are wrapped (AES-256-GCM, AAD = the record's name) under a
// key-encryption key that is never stored. It is derived from one of:
// - an operator passphrase, with scrypt and a random salt kept in the store;
// - a TEE sealing key the runtime exposes as a file (Gramine's
//   /dev/attestation/keys/_sgx_mrenclave, an SEV-SNP derived key fetched at boot),
//   with HKDF and the same stored salt: only that enclave on that machine
//   derives it, so not even the operator can unwrap a copy of the store.
// A copy of the store (file or NATS) alone reveals no data key. A check value
// detects a wrong passphrase or sealing key, or the other source, before
// anything is written.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { CmError } from '../errors.ts';
import type { Store } from './store.ts';

export interface KekParams {
  /** scrypt cost N (power of two); default 2^15. */
  cost?: number;
}

export interface Kek {
  wrap(plain: Buffer, name: string): { iv: string; ct: string; tag: string };
  unwrap(w: { iv: string; ct: string; tag: string }, name: string): Buffer;
}

const META_KEY = 'meta.kek';
const CHECK = Buffer.from('aenv-capsule-manager-kek-check-v1');

function makeKek(key: Buffer): Kek {
  return {
    wrap(plain, name) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(Buffer.from(name, 'utf8'));
      const ct = Buffer.concat([c.update(plain), c.final()]);
      return { iv: iv.toString('base64'), ct: ct.toString('base64'), tag: c.getAuthTag().toString('base64') };
    },
    unwrap(w, name) {
      try {
        const d = createDecipheriv('aes-256-gcm', key, Buffer.from(w.iv, 'base64'));
        d.setAAD(Buffer.from(name, 'utf8'));
        d.setAuthTag(Buffer.from(w.tag, 'base64'));
        return Buffer.concat([d.update(Buffer.from(w.ct, 'base64')), d.final()]);
      } catch (cause) {
        throw new CmError('STORE_CORRUPT', `wrapped key ${name} does not authenticate under the KEK`, { cause });
      }
    },
  };
}

function derive(passphrase: string, salt: Buffer, cost: number): Buffer {
  return scryptSync(passphrase.normalize('NFC'), salt, 32, { N: cost, r: 8, p: 1, maxmem: 256 * cost * 8 + 1024 * 1024 });
}

const SEALED_INFO = Buffer.from('aenv-capsule-manager kek v1 sealed');

function deriveSealed(sealingKey: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', sealingKey, salt, SEALED_INFO, 32));
}

/** Where the KEK comes from: an operator passphrase, or a TEE sealing key. */
export type KekSecret = string | { sealingKey: Buffer };

interface KekMeta {
  /** Absent in stores created before sealed KEKs: passphrase. */
  source?: 'passphrase' | 'sealed';
  salt: string;
  cost?: number;
  check: { iv: string; ct: string; tag: string };
}

function sourceOf(secret: KekSecret): 'passphrase' | 'sealed' {
  return typeof secret === 'string' ? 'passphrase' : 'sealed';
}

function checkSecret(secret: KekSecret): void {
  if (typeof secret === 'string') {
    if (secret.length < 8) throw new CmError('INVALID_REQUEST', 'the KEK passphrase must have at least 8 characters');
  } else if (!Buffer.isBuffer(secret.sealingKey) || secret.sealingKey.length < 16 || secret.sealingKey.length > 64) {
    throw new CmError('INVALID_REQUEST', 'a sealing key has 16 to 64 bytes');
  }
}

function keyFor(secret: KekSecret, salt: Buffer, cost: number): Buffer {
  return typeof secret === 'string' ? derive(secret, salt, cost) : deriveSealed(secret.sealingKey, salt);
}

/** Derives the KEK for this store, creating salt + check value on first use. */
export async function openKek(store: Store, secret: KekSecret, params: KekParams = {}): Promise<Kek> {
  checkSecret(secret);
  const source = sourceOf(secret);
  for (let attempt = 0; attempt < 3; attempt++) {
    const meta = await store.get(META_KEY);
    if (meta) {
      const m = JSON.parse(meta.value.toString('utf8')) as KekMeta;
      const stored = m.source ?? 'passphrase';
      if (stored !== source) throw new CmError('KEK_MISMATCH', `this store's KEK comes from ${stored === 'sealed' ? 'a TEE sealing key' : 'a passphrase'}, not from ${source === 'sealed' ? 'a sealing key' : 'a passphrase'}`);
      const kek = makeKek(keyFor(secret, Buffer.from(m.salt, 'base64'), m.cost ?? 0));
      let ok = false;
      try {
        ok = timingSafeEqual(kek.unwrap(m.check, META_KEY), CHECK);
      } catch {
        ok = false;
      }
      if (!ok) {
        throw new CmError(
          'KEK_MISMATCH',
          source === 'sealed'
            ? "the sealing key does not match this store (another enclave or machine: a sealed KEK is one enclave's on one machine)"
            : 'the KEK passphrase does not match this store',
        );
      }
      return kek;
    }
    const cost = params.cost ?? 2 ** 15;
    const salt = randomBytes(16);
    const kek = makeKek(keyFor(secret, salt, cost));
    const record: KekMeta = source === 'sealed' ? { source, salt: salt.toString('base64'), check: kek.wrap(CHECK, META_KEY) } : { salt: salt.toString('base64'), cost, check: kek.wrap(CHECK, META_KEY) };
    try {
      await store.create(META_KEY, Buffer.from(JSON.stringify(record)));
      return kek;
    } catch (e) {
      if (!CmError.is(e, 'ALREADY_EXISTS')) throw e; // another replica won: use its salt
    }
  }
  throw new CmError('STORE_UNAVAILABLE', 'cannot initialise the KEK');
}
