// Decrypts a parsed envelope with the app identity. Key choice: the `kid` when
// present (it must name a key of the right type), else by alg (RSA-OAEP-256 ->
// rsa, ECDH-ES* -> the curve of `epk`). `dir` takes the session key named by kid.
// Every cryptographic failure is reported as DECRYPT_FAILED with no detail, so the
// error does not become a padding/unwrap oracle.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { AppIdentity, AppKey, AppKeyName } from '../../platforms/index.ts';
import { CONTENT_ENCS, KEY_ALGS, type ContentEnc, type KeyAlg } from '../config.ts';
import { ExtProcError } from '../errors.ts';
import { aesKeyUnwrap, concatKdf, ecdh, ENC_KEY_BYTES, gcmDecrypt, rsaOaep256Decrypt } from '../../foundation/jwe-crypto.ts';
import { b64uDecode, joinHeader, type EnvelopeForm, type JweRecipient, type ParsedJwe } from './jwe-envelope.ts';
import type { SessionTable } from './session-table.ts';

export type CompatMode = 'rfc7516' | 'trustflow';

export interface DecryptOptions {
  identity: AppIdentity;
  compat: CompatMode;
  algorithms: readonly KeyAlg[];
  encryptions: readonly ContentEnc[];
  sessions?: SessionTable;
}

export interface Decrypted {
  plaintext: Buffer;
  /** The content key: reused (fresh IV) to encrypt the response. */
  cek: Buffer;
  alg: KeyAlg;
  enc: ContentEnc;
  form: EnvelopeForm;
  /** Session id when the request came with alg `dir`. */
  sessionId?: string;
  /** Protected `cty`, when the client declared the plaintext's media type. */
  cty?: string;
}

function keyForKid(identity: AppIdentity, kid: unknown, want: AppKeyName[]): AppKey | undefined {
  if (kid === undefined) return undefined;
  if (typeof kid !== 'string') throw new ExtProcError('MALFORMED_ENVELOPE', 'kid must be a string');
  const k = identity.byKid(kid);
  if (!k || !want.includes(k.name)) throw new ExtProcError('UNKNOWN_KEY', 'no app key with this kid for this alg');
  return k;
}

function epkCurve(epk: Record<string, unknown>): AppKeyName {
  if (epk.kty === 'OKP' && epk.crv === 'X25519') return 'x25519';
  if (epk.kty === 'EC' && epk.crv === 'P-256') return 'p256';
  throw new ExtProcError('UNKNOWN_KEY', 'epk curve is not X25519 or P-256');
}

function importEpk(epk: Record<string, unknown>): KeyObject {
  const jwk: Record<string, unknown> = { kty: epk.kty, crv: epk.crv, x: epk.x };
  if (epk.kty === 'EC') jwk.y = epk.y;
  if ('d' in epk) throw new ExtProcError('MALFORMED_ENVELOPE', 'epk must be a public key');
  try {
    return createPublicKey({ key: jwk as never, format: 'jwk' });
  } catch (cause) {
    throw new ExtProcError('MALFORMED_ENVELOPE', 'epk is not a valid public key', { cause });
  }
}

/** Picks the recipient meant for this app: one whose kid we know, else the first with a supported alg. */
function pickRecipient(jwe: ParsedJwe, identity: AppIdentity): JweRecipient {
  if (jwe.recipients.length === 1) return jwe.recipients[0]!;
  const headers = jwe.recipients.map((r) => joinHeader(jwe, r));
  const byKid = headers.findIndex((h) => typeof h.kid === 'string' && identity.byKid(h.kid) !== undefined);
  if (byKid >= 0) return jwe.recipients[byKid]!;
  const byAlg = headers.findIndex((h) => typeof h.alg === 'string' && (KEY_ALGS as readonly string[]).includes(h.alg) && h.kid === undefined);
  if (byAlg >= 0) return jwe.recipients[byAlg]!;
  throw new ExtProcError('UNKNOWN_KEY', 'no recipient of this envelope is addressed to the app');
}

function cryptoStep<T>(fn: () => T): T {
  try {
    return fn();
  } catch (cause) {
    throw new ExtProcError('DECRYPT_FAILED', 'envelope could not be decrypted', { cause });
  }
}

export function decryptEnvelope(jwe: ParsedJwe, opts: DecryptOptions): Decrypted {
  const recipient = pickRecipient(jwe, opts.identity);
  const h = joinHeader(jwe, recipient);
  const alg = h.alg;
  const enc = h.enc;
  // A header without alg or enc is not a JWE header: most often one whose bytes were altered.
  for (const [name, v] of [['alg', alg], ['enc', enc]] as const) {
    if (v === undefined) throw new ExtProcError('MALFORMED_ENVELOPE', `the JWE header has no "${name}" member (altered or not a JWE header)`);
    if (typeof v !== 'string') throw new ExtProcError('MALFORMED_ENVELOPE', `the JWE header's "${name}" must be a string`);
  }
  if (typeof alg !== 'string' || !(KEY_ALGS as readonly string[]).includes(alg) || !opts.algorithms.includes(alg as KeyAlg)) {
    throw new ExtProcError('UNSUPPORTED_ALG', `alg ${JSON.stringify(alg)} is not supported`, { details: { supported: opts.algorithms } });
  }
  if (typeof enc !== 'string' || !(CONTENT_ENCS as readonly string[]).includes(enc) || !opts.encryptions.includes(enc as ContentEnc)) {
    throw new ExtProcError('UNSUPPORTED_ENC', `enc ${JSON.stringify(enc)} is not supported`, { details: { supported: opts.encryptions } });
  }
  if (h.zip !== undefined) throw new ExtProcError('UNSUPPORTED_HEADER', 'zip is not supported');
  if (h.crit !== undefined) throw new ExtProcError('UNSUPPORTED_HEADER', 'no crit header parameter is understood');
  if (jwe.iv.length !== 12) throw new ExtProcError('MALFORMED_ENVELOPE', 'iv must be 12 bytes');
  if (jwe.tag.length !== 16) throw new ExtProcError('MALFORMED_ENVELOPE', 'tag must be 16 bytes');
  const e = enc as ContentEnc;
  const keyBytes = ENC_KEY_BYTES[e];
  let cek: Buffer;
  let sessionId: string | undefined;
  switch (alg as KeyAlg) {
    case 'RSA-OAEP-256': {
      const key = keyForKid(opts.identity, h.kid, ['rsa']) ?? opts.identity.keys.rsa;
      cek = cryptoStep(() => rsaOaep256Decrypt(key.privateKey, recipient.encryptedKey));
      break;
    }
    case 'ECDH-ES':
    case 'ECDH-ES+A256KW': {
      const epk = h.epk;
      if (typeof epk !== 'object' || epk === null || Array.isArray(epk)) throw new ExtProcError('MALFORMED_ENVELOPE', 'ECDH-ES needs an epk object');
      const curve = epkCurve(epk as Record<string, unknown>);
      const key = keyForKid(opts.identity, h.kid, [curve]) ?? opts.identity.keys[curve];
      const pub = importEpk(epk as Record<string, unknown>);
      const apu = h.apu === undefined ? Buffer.alloc(0) : b64uDecode(h.apu, 'apu');
      const apv = h.apv === undefined ? Buffer.alloc(0) : b64uDecode(h.apv, 'apv');
      const z = cryptoStep(() => ecdh(key.privateKey, pub));
      if (alg === 'ECDH-ES') {
        if (recipient.encryptedKey.length !== 0) throw new ExtProcError('MALFORMED_ENVELOPE', 'ECDH-ES (direct) must have an empty encrypted_key');
        cek = concatKdf(z, keyBytes * 8, e, apu, apv);
      } else {
        const kek = concatKdf(z, 256, 'ECDH-ES+A256KW', apu, apv);
        cek = cryptoStep(() => aesKeyUnwrap(kek, recipient.encryptedKey));
      }
      break;
    }
    case 'dir': {
      if (typeof h.kid !== 'string') throw new ExtProcError('MALFORMED_ENVELOPE', 'dir needs kid = session id');
      if (recipient.encryptedKey.length !== 0) throw new ExtProcError('MALFORMED_ENVELOPE', 'dir must have an empty encrypted_key');
      const s = opts.sessions?.use(h.kid);
      if (!s) throw new ExtProcError('SESSION_UNKNOWN', 'session is unknown or expired; establish a new one');
      if (s.enc !== e) throw new ExtProcError('DECRYPT_FAILED', 'envelope could not be decrypted');
      cek = s.key;
      sessionId = h.kid;
      break;
    }
  }
  if (cek.length !== keyBytes) throw new ExtProcError('DECRYPT_FAILED', 'envelope could not be decrypted');
  // RFC 7516 5.2 step 14: AAD = ASCII(BASE64URL(protected) [|| "." || BASE64URL(aad)]).
  // Trustflow's client feeds the raw (empty) aad to GCM instead (trustflow-compat.md).
  const aad = opts.compat === 'trustflow'
    ? b64uDecode(jwe.aadB64 ?? '', 'aad')
    : Buffer.from(jwe.aadB64 === undefined ? jwe.protectedB64 : `${jwe.protectedB64}.${jwe.aadB64}`, 'ascii');
  const plaintext = cryptoStep(() => gcmDecrypt(e, cek, jwe.iv, jwe.ciphertext, jwe.tag, aad));
  const cty = typeof h.cty === 'string' ? h.cty : undefined;
  return { plaintext, cek, alg: alg as KeyAlg, enc: e, form: jwe.form, ...(sessionId ? { sessionId } : {}), ...(cty ? { cty } : {}) };
}
