// The Trustflow request envelope: EncryptedRequest.message = JWE(JWS(request
// JSON)) when has_signature, else JWE(request JSON). The JWS is flattened JSON
// with header {"alg":"RS256","x5c":[...]} (x5c: base64 DER, leaf first); the
// JWE is flattened JSON to the capsule manager's RSA key (RSA-OAEP-256 or
// RSA-OAEP, A128GCM/A256GCM), or, where the client chose the faster envelope,
// ECDH-ES (direct key agreement) to the CM's X25519 or P-256 key, which its
// attested certificate names (platforms/core/app-identity.ts, key set
// extension): no RSA private operation per request. Responses are a JWE to the
// requester's key.
// Pure (no transport). The JOSE here is synchronous node:crypto
// (foundation/jwe-crypto.ts): jose's WebCrypto path cost ~1.5 ms of CPU to open
// one request and ~0.6 ms to seal a response, most of a key release; every path
// is cross-checked against jose in test/capsule-manager/core/envelope-jose.test.ts.
import { constants, createHash, createPublicKey, generateKeyPairSync, KeyObject, randomBytes, sign, verify, X509Certificate } from 'node:crypto';
import { CmError } from '../errors.ts';
import { concatKdf, ecdh, gcmDecrypt, gcmEncrypt, rsaOaepDecrypt, rsaOaepEncrypt, type ContentEnc } from '../../foundation/jwe-crypto.ts';
import { partyIdOfKey } from './party-id.ts';

/** Flattened JWE in the field names of secretflowapis' Jwe message JSON. */
export interface JweJson {
  protected: string;
  encrypted_key: string;
  iv: string;
  ciphertext: string;
  tag: string;
  aad?: string;
}

/** A flattened JWS (RFC 7515 7.2.2). */
export interface JwsJson {
  protected: string;
  payload: string;
  signature: string;
}

export interface Signer {
  privateKey: KeyObject;
  /** PEM certificates, leaf first; the last one is the party's root. */
  certChainPem: string[];
}

export interface VerifiedSigner {
  /** party id of the chain's root key (owner identity). */
  partyId: string;
  leafCertPem: string;
  leafKey: KeyObject;
  chain: X509Certificate[];
}

const MAX_ENVELOPE = 4 * 1024 * 1024;
/** Parsed x5c chains with their party id (the root key's), by the header's x5c. */
const chainCache = new Map<string, { chain: X509Certificate[]; partyId: string }>();
export const KEY_ALGS = ['RSA-OAEP-256', 'RSA-OAEP', 'ECDH-ES'];

/**
 * What a JWE to the capsule manager may be encrypted to: its RSA key, and the
 * agreement keys its certificate names. A bare KeyObject is an RSA key alone.
 */
export interface RecipientKeys {
  rsa: KeyObject;
  x25519?: KeyObject;
  p256?: KeyObject;
}

function recipientKeys(key: KeyObject | RecipientKeys): RecipientKeys {
  return key instanceof KeyObject ? { rsa: key } : key;
}

/** The JWK of an ephemeral public key as `epk` carries it (RFC 7518 4.6.1.1). */
function epkJwk(publicKey: KeyObject): Record<string, string> {
  const j = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  return j.kty === 'OKP' ? { kty: 'OKP', crv: j.crv!, x: j.x! } : { kty: 'EC', crv: j.crv!, x: j.x!, y: j.y! };
}

/** The recipient key an `epk` asks for, and the epk as a key; undefined when neither fits. */
function agreementKey(keys: RecipientKeys, epk: unknown): { mine: KeyObject; theirs: KeyObject } | undefined {
  if (!isObject(epk) || 'd' in epk) return undefined;
  const mine = epk.kty === 'OKP' && epk.crv === 'X25519' ? keys.x25519 : epk.kty === 'EC' && epk.crv === 'P-256' ? keys.p256 : undefined;
  if (!mine) return undefined;
  const jwk = epk.kty === 'EC' ? { kty: epk.kty, crv: epk.crv, x: epk.x, y: epk.y } : { kty: epk.kty, crv: epk.crv, x: epk.x };
  try {
    return { mine, theirs: createPublicKey({ key: jwk as never, format: 'jwk' }) };
  } catch {
    return undefined; // not a point on the curve, or not a key at all
  }
}
export const ENC_ALGS = ['A128GCM', 'A256GCM'];
const OAEP_HASH: Record<string, 'sha1' | 'sha256'> = { 'RSA-OAEP-256': 'sha256', 'RSA-OAEP': 'sha1' };
const CEK_BYTES: Record<string, number> = { A128GCM: 16, A256GCM: 32 };
const SIG_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'];

export function b64u(b: Uint8Array | string): string {
  return Buffer.from(b).toString('base64url');
}

/** base64url without padding or any other character (RFC 7515 2); undefined otherwise. */
export function fromB64u(s: unknown): Buffer | undefined {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) return undefined;
  return Buffer.from(s, 'base64url');
}

/** The protected header's JSON (any JSON value); undefined when it is not base64url JSON. */
function headerJson(protectedB64: unknown): { json: unknown } | undefined {
  const raw = fromB64u(protectedB64);
  if (!raw) return undefined;
  try {
    return { json: JSON.parse(raw.toString('utf8')) as unknown };
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The protected header as a JSON object; undefined when it is not one. */
export function protectedHeader(protectedB64: unknown): Record<string, unknown> | undefined {
  const h = headerJson(protectedB64)?.json;
  return isObject(h) ? h : undefined;
}

/** RSA keys below 2048 bits are refused for both JWS and JWE (as jose does). */
function isRsa2048(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048;
}

/** Whether `key` may make or check a JWS of `alg` (the key type the alg names). */
function keyFitsSigAlg(key: KeyObject, alg: string): boolean {
  if (alg === 'RS256' || alg === 'PS256') return isRsa2048(key);
  if (alg === 'ES256') return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (alg === 'EdDSA') return key.asymmetricKeyType === 'ed25519';
  return false;
}

function sigOptions(key: KeyObject, alg: string): { digest: string | null; key: { key: KeyObject; padding?: number; saltLength?: number; dsaEncoding?: 'ieee-p1363' } } {
  if (alg === 'PS256') return { digest: 'sha256', key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } };
  if (alg === 'ES256') return { digest: 'sha256', key: { key, dsaEncoding: 'ieee-p1363' } };
  if (alg === 'EdDSA') return { digest: null, key: { key } };
  return { digest: 'sha256', key: { key } };
}

const certDer = new Map<string, string>();
function certDerB64(pem: string): string {
  const hit = certDer.get(pem);
  if (hit) return hit;
  if (certDer.size >= 64) certDer.delete(certDer.keys().next().value!);
  const der = Buffer.from(new X509Certificate(pem).raw).toString('base64');
  certDer.set(pem, der);
  return der;
}

function sigAlg(key: KeyObject): string {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec') return 'ES256';
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  throw new CmError('UNSUPPORTED', `signing key type ${key.asymmetricKeyType} is not supported`);
}

export async function signJws(payload: Uint8Array, signer: Signer): Promise<JwsJson> {
  const alg = sigAlg(signer.privateKey);
  if (!keyFitsSigAlg(signer.privateKey, alg)) throw new CmError('UNSUPPORTED', `a ${alg} signing key must be ${alg === 'ES256' ? 'P-256' : 'RSA of 2048 bits or more'}`);
  const protectedB64 = b64u(JSON.stringify({ alg, x5c: signer.certChainPem.map(certDerB64) }));
  const payloadB64 = b64u(payload);
  const o = sigOptions(signer.privateKey, alg);
  const signature = sign(o.digest, Buffer.from(`${protectedB64}.${payloadB64}`, 'ascii'), o.key);
  return { protected: protectedB64, payload: payloadB64, signature: b64u(signature) };
}

/** Checks the JWS signature with `key`; false when it does not verify (never throws for a bad signature). */
function jwsVerifies(j: JwsJson, header: Record<string, unknown>, key: KeyObject): boolean {
  const alg = header.alg;
  if (typeof alg !== 'string' || !SIG_ALGS.includes(alg) || !keyFitsSigAlg(key, alg)) return false;
  const sig = fromB64u(j.signature);
  if (!sig || fromB64u(j.payload) === undefined) return false;
  const o = sigOptions(key, alg);
  try {
    return verify(o.digest, Buffer.from(`${j.protected}.${j.payload}`, 'ascii'), o.key, sig);
  } catch {
    return false;
  }
}

/** Verifies a flattened JWS with x5c: signature by the leaf, chain links, validity. */
export async function verifyJws(jws: unknown, now = new Date()): Promise<{ payload: Uint8Array; signer: VerifiedSigner }> {
  const j = jws as Partial<JwsJson> & { header?: unknown };
  if (!j || typeof j.protected !== 'string' || typeof j.payload !== 'string' || typeof j.signature !== 'string') throw new CmError('BAD_ENVELOPE', 'JWS must have protected, payload and signature');
  const parsed = headerJson(j.protected);
  if (!parsed) throw new CmError('BAD_ENVELOPE', 'JWS protected header is not JSON');
  // JSON that is not an object (null, a number, a list) is no header either.
  if (!isObject(parsed.json)) throw new CmError('BAD_ENVELOPE', 'JWS protected header is not a JSON object');
  const header = parsed.json;
  if (!Array.isArray(header.x5c) || header.x5c.length === 0 || header.x5c.length > 8 || header.x5c.some((c) => typeof c !== 'string'))
    throw new CmError('BAD_SIGNATURE', 'JWS header must carry x5c (1..8 certificates)');
  // Unknown critical parameters (b64: false among them) are refused, as RFC 7515 4.1.11 asks.
  if (header.crit !== undefined) throw new CmError('BAD_SIGNATURE', 'JWS header carries crit parameters this capsule manager does not understand');
  const cacheKey = (header.x5c as string[]).join('.');
  const hit = chainCache.get(cacheKey);
  let chain = hit?.chain;
  if (!chain) {
    try {
      // X509Certificate decodes the public key lazily: read it here, so a
      // certificate whose key does not decode is refused as such instead of a raw
      // OpenSSL "decode error" escaping from the first `.publicKey` below.
      chain = (header.x5c as string[]).map((c) => {
        const cert = new X509Certificate(Buffer.from(c, 'base64'));
        void cert.publicKey;
        return cert;
      });
    } catch (cause) {
      throw new CmError('BAD_SIGNATURE', 'x5c holds an invalid certificate', { cause });
    }
  }
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!;
    if (new Date(c.validFrom) > now || new Date(c.validTo) < now) throw new CmError('BAD_SIGNATURE', `x5c[${i}] is not valid at ${now.toISOString()}`);
    if (i + 1 < chain.length && !c.verify(chain[i + 1]!.publicKey)) throw new CmError('BAD_SIGNATURE', `x5c[${i}] is not signed by x5c[${i + 1}]`);
  }
  const leafKey = chain[0]!.publicKey;
  if (!jwsVerifies(j as JwsJson, header, leafKey)) throw new CmError('BAD_SIGNATURE', 'JWS signature does not verify against x5c[0]');
  const partyId = hit?.partyId ?? partyIdOfKey(chain[chain.length - 1]!.publicKey);
  // Parsed chains are cached (bounded) with their party id; validity and links
  // are still checked on every use. Only a chain that carried a valid signature
  // is cached, so rejected requests cannot evict the chains of real clients.
  if (!hit) {
    if (chainCache.size >= 256) chainCache.delete(chainCache.keys().next().value!);
    chainCache.set(cacheKey, { chain, partyId });
  }
  return { payload: fromB64u(j.payload)!, signer: { partyId, leafCertPem: chain[0]!.toString(), leafKey, chain } };
}

/**
 * A flattened JWE of `plaintext` to `recipient`: RSA-OAEP(-256) to an RSA key,
 * or ECDH-ES (direct agreement, an ephemeral key per message) to an X25519 or
 * P-256 key.
 */
export async function encryptJwe(plaintext: Uint8Array, recipient: KeyObject, alg = 'RSA-OAEP-256', enc = 'A128GCM'): Promise<JweJson> {
  if (!KEY_ALGS.includes(alg) || !ENC_ALGS.includes(enc)) throw new CmError('UNSUPPORTED', `JWE ${alg}/${enc} is not supported (${KEY_ALGS.join(', ')} with ${ENC_ALGS.join(', ')})`);
  let cek: Buffer;
  let header: Record<string, unknown>;
  let encryptedKey: Buffer = Buffer.alloc(0);
  if (alg === 'ECDH-ES') {
    const curve = recipient.asymmetricKeyType === 'x25519' ? 'x25519' : recipient.asymmetricKeyType === 'ec' && recipient.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'P-256' : undefined;
    if (!curve) throw new CmError('UNSUPPORTED', 'an ECDH-ES recipient key must be X25519 or P-256');
    const eph = curve === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    cek = concatKdf(ecdh(eph.privateKey, recipient), CEK_BYTES[enc]! * 8, enc, Buffer.alloc(0), Buffer.alloc(0));
    header = { alg, enc, epk: epkJwk(eph.publicKey) };
  } else {
    if (!isRsa2048(recipient)) throw new CmError('UNSUPPORTED', 'the JWE recipient key must be RSA of 2048 bits or more');
    cek = randomBytes(CEK_BYTES[enc]!);
    header = { alg, enc };
    encryptedKey = rsaOaepEncrypt(recipient, cek, OAEP_HASH[alg]!);
  }
  try {
    const protectedB64 = b64u(JSON.stringify(header));
    const out = gcmEncrypt(enc as ContentEnc, cek, Buffer.from(plaintext), Buffer.from(protectedB64, 'ascii'));
    return { protected: protectedB64, encrypted_key: b64u(encryptedKey), iv: b64u(out.iv), ciphertext: b64u(out.ciphertext), tag: b64u(out.tag), aad: '' };
  } finally {
    cek.fill(0);
  }
}

export async function decryptJwe(jwe: JweJson | undefined, key: KeyObject | RecipientKeys): Promise<Uint8Array> {
  const keys = recipientKeys(key);
  if (!jwe || typeof jwe.ciphertext !== 'string' || typeof jwe.protected !== 'string') throw new CmError('BAD_ENVELOPE', 'message must be a flattened JWE');
  if (jwe.ciphertext.length > MAX_ENVELOPE) throw new CmError('BAD_ENVELOPE', 'envelope too large');
  // One answer for every failure below: no oracle on which step refused.
  const refuse = (): never => {
    throw new CmError('BAD_ENVELOPE', 'cannot decrypt the envelope (wrong recipient key or corrupted JWE)');
  };
  const header = protectedHeader(jwe.protected);
  const alg = header?.alg;
  const enc = header?.enc;
  if (!header || typeof alg !== 'string' || typeof enc !== 'string' || !KEY_ALGS.includes(alg) || !ENC_ALGS.includes(enc)) return refuse();
  if (header.zip !== undefined || header.crit !== undefined) return refuse();
  // proto3 JSON drops an empty string: an ECDH-ES envelope arrives without encrypted_key.
  const ek = jwe.encrypted_key === undefined || jwe.encrypted_key === null ? Buffer.alloc(0) : fromB64u(jwe.encrypted_key);
  const iv = fromB64u(jwe.iv);
  const ciphertext = fromB64u(jwe.ciphertext);
  const tag = fromB64u(jwe.tag);
  const aadMember = jwe.aad === undefined || jwe.aad === '' ? '' : fromB64u(jwe.aad) !== undefined ? jwe.aad : undefined;
  if (!ek || !iv || !ciphertext || !tag || aadMember === undefined || iv.length !== 12 || tag.length !== 16) return refuse();
  let cek: Buffer | undefined;
  try {
    if (alg === 'ECDH-ES') {
      // Direct key agreement: no encrypted key; the CEK comes from the Concat KDF (RFC 7518 4.6.2).
      const agree = agreementKey(keys, header.epk);
      const apu = header.apu === undefined ? Buffer.alloc(0) : fromB64u(header.apu);
      const apv = header.apv === undefined ? Buffer.alloc(0) : fromB64u(header.apv);
      if (!agree || ek.length !== 0 || !apu || !apv) return refuse();
      cek = concatKdf(ecdh(agree.mine, agree.theirs), CEK_BYTES[enc]! * 8, enc, apu, apv);
    } else {
      if (!isRsa2048(keys.rsa) || keys.rsa.type !== 'private') return refuse();
      cek = rsaOaepDecrypt(keys.rsa, ek, OAEP_HASH[alg]!);
    }
    if (cek.length !== CEK_BYTES[enc]) return refuse();
    // RFC 7516 5.2 step 14: AAD = ASCII(protected) or ASCII(protected "." aad).
    const aad = Buffer.from(aadMember ? `${jwe.protected}.${aadMember}` : jwe.protected, 'ascii');
    return gcmDecrypt(enc as ContentEnc, cek, iv, ciphertext, tag, aad);
  } catch (e) {
    if (CmError.is(e)) throw e;
    return refuse();
  } finally {
    cek?.fill(0);
  }
}

/** Client side: request JSON -> JWE(JWS(json)) (or JWE(json) without signer). */
export async function sealRequest(request: unknown, recipient: KeyObject, signer?: Signer): Promise<{ message: JweJson; has_signature: boolean }> {
  // An RSA recipient gets RSA-OAEP-256 (Trustflow's envelope); an X25519 or P-256 one ECDH-ES.
  const alg = recipient.asymmetricKeyType === 'rsa' ? 'RSA-OAEP-256' : 'ECDH-ES';
  const json = Buffer.from(JSON.stringify(request), 'utf8');
  if (!signer) return { message: await encryptJwe(json, recipient, alg), has_signature: false };
  const jws = await signJws(json, signer);
  return { message: await encryptJwe(Buffer.from(JSON.stringify(jws), 'utf8'), recipient, alg), has_signature: true };
}

/** Server side: opens an envelope; returns the request JSON and, when signed, the verified signer. */
export async function openRequest(message: JweJson | undefined, hasSignature: boolean, key: KeyObject | RecipientKeys, now?: Date): Promise<{ request: unknown; signer?: VerifiedSigner }> {
  const plain = await decryptJwe(message, key);
  const parse = (b: Uint8Array, what: string): unknown => {
    try {
      return JSON.parse(Buffer.from(b).toString('utf8'));
    } catch {
      throw new CmError('BAD_ENVELOPE', `${what} is not JSON`);
    }
  };
  if (!hasSignature) return { request: parse(plain, 'request') };
  const { payload, signer } = await verifyJws(parse(plain, 'JWS'), now);
  return { request: parse(payload, 'request'), signer };
}

export async function sealResponse(response: unknown, recipient: KeyObject): Promise<JweJson> {
  return encryptJwe(Buffer.from(JSON.stringify(response), 'utf8'), recipient);
}

export async function openResponse(message: JweJson, key: KeyObject): Promise<unknown> {
  const plain = await decryptJwe(message, key);
  try {
    return JSON.parse(Buffer.from(plain).toString('utf8'));
  } catch {
    throw new CmError('BAD_ENVELOPE', 'response is not JSON');
  }
}

/** SHA-256(cert "." payload): the report data binding of GetDataKeys / GetRaCert. */
export function certBinding(certPem: string, payload: Uint8Array | string): Buffer {
  return createHash('sha256').update(certPem, 'utf8').update('.').update(typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload).digest();
}
