// Data keys at rest are wrapped (AES-256-GCM, AAD = the record's name) under a
// key-encryption key that is never stored: it is derived with scrypt from an
// operator passphrase and a random salt kept in the store, so a copy of the
// store (file or NATS) alone reveals no data key. A check value detects a wrong
// passphrase before anything is written.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
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

/** Derives the KEK for this store, creating salt + check value on first use. */
export async function openKek(store: Store, passphrase: string, params: KekParams = {}): Promise<Kek> {
  if (typeof passphrase !== 'string' || passphrase.length < 8) throw new CmError('INVALID_REQUEST', 'the KEK passphrase must have at least 8 characters');
  for (let attempt = 0; attempt < 3; attempt++) {
    const meta = await store.get(META_KEY);
    if (meta) {
      const m = JSON.parse(meta.value.toString('utf8')) as { salt: string; cost: number; check: { iv: string; ct: string; tag: string } };
      const kek = makeKek(derive(passphrase, Buffer.from(m.salt, 'base64'), m.cost));
      let ok = false;
      try {
        ok = timingSafeEqual(kek.unwrap(m.check, META_KEY), CHECK);
      } catch {
        ok = false;
      }
      if (!ok) throw new CmError('KEK_MISMATCH', 'the KEK passphrase does not match this store');
      return kek;
    }
    const cost = params.cost ?? 2 ** 15;
    const salt = randomBytes(16);
    const kek = makeKek(derive(passphrase, salt, cost));
    try {
      await store.create(META_KEY, Buffer.from(JSON.stringify({ salt: salt.toString('base64'), cost, check: kek.wrap(CHECK, META_KEY) })));
      return kek;
    } catch (e) {
      if (!CmError.is(e, 'ALREADY_EXISTS')) throw e; // another replica won: use its salt
    }
  }
  throw new CmError('STORE_UNAVAILABLE', 'cannot initialise the KEK');
}
