// Client side of the envelope (what a caller of the attested app runs): seal a
// request to one of the app's attested public JWKs, open the response with the
// request's CEK, and use a session (`dir`) after the first exchange. Pure
// node:crypto; tests check every output against jose and a Python client.
import { constants, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import type { ContentEnc, KeyAlg } from '../config.ts';
import { aesKeyWrap, concatKdf, ecdh, ENC_KEY_BYTES, gcmDecrypt, gcmEncrypt } from '../../foundation/jwe-crypto.ts';
import { b64uDecode, parseCompact, parseJsonJwe, toCompact, toFlattened, type ParsedJwe } from './jwe-envelope.ts';
import { deriveSessionKey, SESSION_EXPIRES_HEADER, SESSION_HEADER } from './session-table.ts';

export type Jwk = Record<string, string>;
export type ClientForm = 'flattened' | 'general' | 'compact';

export interface SealOptions {
  /** The app's public JWK (from the verified attestation document). */
  jwk: Jwk;
  /** Defaults to the JWK's alg (RSA-OAEP-256 or ECDH-ES). */
  alg?: Exclude<KeyAlg, 'dir'>;
  enc?: ContentEnc;
  form?: ClientForm;
  /** Trustflow's client form: no kid, GCM AAD = empty aad, `aad: ""` member. */
  compat?: 'rfc7516' | 'trustflow';
  /** Extra protected header parameters (e.g. cty). */
  header?: Record<string, unknown>;
}

export interface Sealed {
  body: string;
  contentType: string;
  cek: Buffer;
  enc: ContentEnc;
  compat: 'rfc7516' | 'trustflow';
}

export interface Session {
  id: string;
  key: Buffer;
  enc: ContentEnc;
  expiresAt: number;
}

function b64u(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

function finish(plaintext: Buffer, header: Record<string, unknown>, encryptedKey: Buffer, cek: Buffer, enc: ContentEnc, form: ClientForm, compat: 'rfc7516' | 'trustflow'): Sealed {
  const protectedB64 = b64u(JSON.stringify(header));
  const aad = compat === 'trustflow' ? Buffer.alloc(0) : Buffer.from(protectedB64, 'ascii');
  const out = gcmEncrypt(enc, cek, plaintext, aad);
  const s = { protectedB64, encryptedKey, ...out };
  if (form === 'compact') return { body: toCompact(s), contentType: 'application/jose', cek, enc, compat };
  if (compat === 'trustflow') {
    // Member order and empty aad exactly as Trustflow's client sends them.
    const body = { protected: protectedB64, encrypted_key: b64u(encryptedKey), iv: b64u(out.iv), aad: '', ciphertext: b64u(out.ciphertext), tag: b64u(out.tag) };
    return { body: JSON.stringify(body), contentType: 'application/json', cek, enc, compat };
  }
  if (form === 'general') {
    const f = toFlattened(s);
    const recipient = f.encrypted_key === undefined ? {} : { encrypted_key: f.encrypted_key };
    return { body: JSON.stringify({ protected: f.protected, recipients: [recipient], iv: f.iv, ciphertext: f.ciphertext, tag: f.tag }), contentType: 'application/jose+json', cek, enc, compat };
  }
  return { body: JSON.stringify(toFlattened(s)), contentType: 'application/jose+json', cek, enc, compat };
}

export function sealRequest(plaintext: Buffer | string, opts: SealOptions): Sealed {
  const pt = Buffer.from(plaintext);
  const alg = opts.alg ?? (opts.jwk.alg as Exclude<KeyAlg, 'dir'>);
  const enc = opts.enc ?? 'A128GCM';
  const compat = opts.compat ?? 'rfc7516';
  const form = opts.form ?? 'flattened';
  const pub: KeyObject = createPublicKey({ key: opts.jwk as never, format: 'jwk' });
  const header: Record<string, unknown> = { alg, enc, ...(compat === 'trustflow' ? {} : { kid: opts.jwk.kid }), ...opts.header };
  if (alg === 'RSA-OAEP-256') {
    const cek = randomBytes(ENC_KEY_BYTES[enc]);
    const ek = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
    return finish(pt, header, ek, cek, enc, form, compat);
  }
  const eph = opts.jwk.crv === 'X25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const epk = eph.publicKey.export({ format: 'jwk' }) as Jwk;
  header.epk = opts.jwk.crv === 'X25519' ? { kty: epk.kty, crv: epk.crv, x: epk.x } : { kty: epk.kty, crv: epk.crv, x: epk.x, y: epk.y };
  const z = ecdh(eph.privateKey, pub);
  if (alg === 'ECDH-ES') {
    const cek = concatKdf(z, ENC_KEY_BYTES[enc] * 8, enc, Buffer.alloc(0), Buffer.alloc(0));
    return finish(pt, header, Buffer.alloc(0), cek, enc, form, compat);
  }
  const cek = randomBytes(ENC_KEY_BYTES[enc]);
  const kek = concatKdf(z, 256, 'ECDH-ES+A256KW', Buffer.alloc(0), Buffer.alloc(0));
  return finish(pt, header, aesKeyWrap(kek, cek), cek, enc, form, compat);
}

/** Seals a request under an established session (`alg: dir`, `kid: session id`). */
export function sealSessionRequest(plaintext: Buffer | string, session: Session, form: ClientForm = 'flattened'): Sealed {
  return finish(Buffer.from(plaintext), { alg: 'dir', enc: session.enc, kid: session.id }, Buffer.alloc(0), session.key, session.enc, form, 'rfc7516');
}

function parseResponse(body: string): ParsedJwe {
  const t = body.trim();
  return t.startsWith('{') ? parseJsonJwe(JSON.parse(t)) : parseCompact(t);
}

/** Opens the app's encrypted response with the key of the request it answers. */
export function openResponse(body: string, sealed: Pick<Sealed, 'cek' | 'enc' | 'compat'>): Buffer {
  const jwe = parseResponse(body);
  const h = jwe.protectedHeader;
  if (h.enc !== sealed.enc) throw new Error(`response enc ${String(h.enc)} differs from the request's ${sealed.enc}`);
  const aad = sealed.compat === 'trustflow' && h.alg !== 'dir' ? b64uDecode(jwe.aadB64 ?? '', 'aad') : Buffer.from(jwe.protectedB64, 'ascii');
  if (sealed.compat !== 'trustflow' && h.alg !== 'dir') throw new Error(`response alg ${String(h.alg)} is not dir`);
  return gcmDecrypt(sealed.enc, sealed.cek, jwe.iv, jwe.ciphertext, jwe.tag, aad);
}

/** Reads the session the server created for a `x-aenv-jwe-session: new` request. */
export function sessionFromResponse(headers: Headers, sealed: Pick<Sealed, 'cek' | 'enc'>): Session {
  const id = headers.get(SESSION_HEADER);
  if (!id) throw new Error('response carries no session id');
  const exp = Number(headers.get(SESSION_EXPIRES_HEADER) ?? '0') * 1000;
  return { id, key: deriveSessionKey(sealed.cek, sealed.enc, id), enc: sealed.enc, expiresAt: exp };
}

export { SESSION_HEADER };
