// The Trustflow request envelope: EncryptedRequest.message = JWE(JWS(request
// JSON)) when has_signature, else JWE(request JSON). The JWS is flattened JSON
// with header {"alg":"RS256","x5c":[...]} (x5c: base64 DER, leaf first); the
// JWE is flattened JSON to the capsule manager's RSA key (RSA-OAEP-256 or
// RSA-OAEP, A128GCM/A256GCM). Responses are a JWE to the requester's key.
// Built on jose; pure (no transport).
import { createHash, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { FlattenedEncrypt, FlattenedSign, flattenedDecrypt, flattenedVerify, type FlattenedJWE, type FlattenedJWSInput } from 'jose';
import { CmError } from '../errors.ts';
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
const chainCache = new Map<string, X509Certificate[]>();
export const KEY_ALGS = ['RSA-OAEP-256', 'RSA-OAEP'];
export const ENC_ALGS = ['A128GCM', 'A256GCM'];


/**
 * jose runs on WebCrypto: given a KeyObject it converts it to a CryptoKey on
 * every call (export + import). Keys are long-lived here (the CM key, cached
 * x5c leaves, attested certs), so each is imported once per algorithm.
 */
type CryptoKey = webcrypto.CryptoKey;
const cryptoKeys = new WeakMap<KeyObject, Map<string, Promise<CryptoKey>>>();
const IMPORT: Record<string, { alg: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams; priv: webcrypto.KeyUsage[]; pub: webcrypto.KeyUsage[] }> = {
  'RSA-OAEP-256': { alg: { name: 'RSA-OAEP', hash: 'SHA-256' }, priv: ['decrypt'], pub: ['encrypt'] },
  'RSA-OAEP': { alg: { name: 'RSA-OAEP', hash: 'SHA-1' }, priv: ['decrypt'], pub: ['encrypt'] },
  RS256: { alg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, priv: ['sign'], pub: ['verify'] },
  PS256: { alg: { name: 'RSA-PSS', hash: 'SHA-256' }, priv: ['sign'], pub: ['verify'] },
  ES256: { alg: { name: 'ECDSA', namedCurve: 'P-256' }, priv: ['sign'], pub: ['verify'] },
};

function cryptoKeyFor(key: KeyObject, alg: string): Promise<CryptoKey> | KeyObject {
  const spec = IMPORT[alg];
  if (!spec) return key; // let jose handle (and refuse) anything else
  let m = cryptoKeys.get(key);
  if (!m) cryptoKeys.set(key, (m = new Map()));
  let k = m.get(alg);
  if (!k) {
    k = key.type === 'private'
      ? webcrypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), spec.alg, false, spec.priv)
      : webcrypto.subtle.importKey('spki', key.export({ type: 'spki', format: 'der' }), spec.alg, false, spec.pub);
    k.catch(() => m!.delete(alg));
    m.set(alg, k);
  }
  return k;
}

function headerAlg(protectedB64: unknown): string {
  try {
    const h = JSON.parse(Buffer.from(String(protectedB64), 'base64url').toString('utf8')) as { alg?: unknown };
    return typeof h.alg === 'string' ? h.alg : '';
  } catch {
    return '';
  }
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

export async function signJws(payload: Uint8Array, signer: Signer): Promise<FlattenedJWSInput & { protected: string }> {
  const alg = sigAlg(signer.privateKey);
  const jws = await new FlattenedSign(payload).setProtectedHeader({ alg, x5c: signer.certChainPem.map(certDerB64) }).sign(await cryptoKeyFor(signer.privateKey, alg));
  return { protected: jws.protected!, payload: jws.payload, signature: jws.signature };
}

/** Verifies a flattened JWS with x5c: signature by the leaf, chain links, validity. */
export async function verifyJws(jws: unknown, now = new Date()): Promise<{ payload: Uint8Array; signer: VerifiedSigner }> {
  const j = jws as Partial<FlattenedJWSInput>;
  if (!j || typeof j.protected !== 'string' || typeof j.payload !== 'string' || typeof j.signature !== 'string') throw new CmError('BAD_ENVELOPE', 'JWS must have protected, payload and signature');
  let header: { x5c?: unknown; alg?: unknown };
  try {
    header = JSON.parse(Buffer.from(j.protected, 'base64url').toString('utf8'));
  } catch {
    throw new CmError('BAD_ENVELOPE', 'JWS protected header is not JSON');
  }
  // JSON that is not an object (null, a number, a list) is no header either: `null.x5c` was a TypeError.
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new CmError('BAD_ENVELOPE', 'JWS protected header is not a JSON object');
  if (!Array.isArray(header.x5c) || header.x5c.length === 0 || header.x5c.length > 8 || header.x5c.some((c) => typeof c !== 'string'))
    throw new CmError('BAD_SIGNATURE', 'JWS header must carry x5c (1..8 certificates)');
  const cacheKey = (header.x5c as string[]).join('.');
  let chain = chainCache.get(cacheKey);
  const cached = chain !== undefined;
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
  let out: { payload: Uint8Array };
  let partyId: string;
  try {
    out = await flattenedVerify(j as FlattenedJWSInput, await cryptoKeyFor(leafKey, headerAlg(j.protected)), { algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'] });
    partyId = partyIdOfKey(chain[chain.length - 1]!.publicKey);
  } catch (cause) {
    throw new CmError('BAD_SIGNATURE', 'JWS signature does not verify against x5c[0]', { cause });
  }
  // Parsed chains are cached (bounded); validity and links are still checked on
  // every use. Only a chain that carried a valid signature is cached, so rejected
  // requests cannot evict the chains of real clients.
  if (!cached) {
    if (chainCache.size >= 256) chainCache.delete(chainCache.keys().next().value!);
    chainCache.set(cacheKey, chain);
  }
  return { payload: out.payload, signer: { partyId, leafCertPem: chain[0]!.toString(), leafKey, chain } };
}

export async function encryptJwe(plaintext: Uint8Array, recipient: KeyObject, alg = 'RSA-OAEP-256', enc = 'A128GCM'): Promise<JweJson> {
  const jwe = await new FlattenedEncrypt(plaintext).setProtectedHeader({ alg, enc }).encrypt(await cryptoKeyFor(recipient, alg));
  return { protected: jwe.protected!, encrypted_key: jwe.encrypted_key!, iv: jwe.iv!, ciphertext: jwe.ciphertext, tag: jwe.tag!, aad: jwe.aad ?? '' };
}

export async function decryptJwe(jwe: JweJson | undefined, key: KeyObject): Promise<Uint8Array> {
  if (!jwe || typeof jwe.ciphertext !== 'string' || typeof jwe.protected !== 'string') throw new CmError('BAD_ENVELOPE', 'message must be a flattened JWE');
  if (jwe.ciphertext.length > MAX_ENVELOPE) throw new CmError('BAD_ENVELOPE', 'envelope too large');
  const input: FlattenedJWE = { protected: jwe.protected, encrypted_key: jwe.encrypted_key, iv: jwe.iv, ciphertext: jwe.ciphertext, tag: jwe.tag };
  if (jwe.aad) input.aad = jwe.aad;
  try {
    const alg = headerAlg(jwe.protected);
    const out = await flattenedDecrypt(input, KEY_ALGS.includes(alg) ? await cryptoKeyFor(key, alg) : key, { keyManagementAlgorithms: KEY_ALGS, contentEncryptionAlgorithms: ENC_ALGS });
    return out.plaintext;
  } catch (cause) {
    throw new CmError('BAD_ENVELOPE', 'cannot decrypt the envelope (wrong recipient key or corrupted JWE)', { cause });
  }
}

/** Client side: request JSON -> JWE(JWS(json)) (or JWE(json) without signer). */
export async function sealRequest(request: unknown, recipient: KeyObject, signer?: Signer): Promise<{ message: JweJson; has_signature: boolean }> {
  const json = Buffer.from(JSON.stringify(request), 'utf8');
  if (!signer) return { message: await encryptJwe(json, recipient), has_signature: false };
  const jws = await signJws(json, signer);
  return { message: await encryptJwe(Buffer.from(JSON.stringify(jws), 'utf8'), recipient), has_signature: true };
}

/** Server side: opens an envelope; returns the request JSON and, when signed, the verified signer. */
export async function openRequest(message: JweJson | undefined, hasSignature: boolean, key: KeyObject, now?: Date): Promise<{ request: unknown; signer?: VerifiedSigner }> {
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
