// The app's attested identity: the key pairs that live inside the TEE beside the
// app, shared by ext-proc (decrypts envelopes), ra-proxy (binds their digest into
// attestation evidence) and the control plane / data capsule proxy (talk to the
// capsule manager on the app's behalf).
//
//   rsa    RSA-2048   RSA-OAEP-256 envelopes (Trustflow form), Trustflow RA cert
//   x25519 X25519     ECDH-ES(+A256KW) envelopes: no RSA cost per request
//   p256   P-256      ECDH-ES(+A256KW) for clients without X25519
//
// Pure: keys in memory (transport/app-identity-files.ts keeps them in files, 0600
// in a 0700 directory, never logged).
//
// keySetDigest = SHA-256( for each key in [rsa, x25519, p256]:
//                         u32be(len(SPKI DER)) || SPKI DER )
// Attestation binding for /.well-known/attestation (see attestationReportData):
//   REPORT_DATA[0..32)  = SHA-256(nonce as UTF-8)
//   REPORT_DATA[32..64) = keySetDigest
//
// The self-signed certificate of the RSA key (Trustflow's RA cert, which
// GetRaCert binds into evidence as SHA-256(cert "." nonce)) also names the
// agreement keys, so a client that verified the cert can encrypt to X25519 or
// P-256 instead of RSA: subjectAltName URIs (not critical; `openssl x509 -text`
// shows them; clients that do not know them ignore them)
//   urn:aenv:agreement-key:x25519:<base64url SPKI DER>
//   urn:aenv:agreement-key:p256:<base64url SPKI DER>
// (A private extension would need a 2.25 UUID OID, whose 128-bit arc
// @peculiar/x509 cannot round-trip.)
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto, type KeyObject } from 'node:crypto';
import { x509 } from '../../foundation/x509.ts';

export type AppKeyName = 'rsa' | 'x25519' | 'p256';
export const APP_KEY_NAMES: readonly AppKeyName[] = ['rsa', 'x25519', 'p256'];

export interface AppKey {
  name: AppKeyName;
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Public JWK with kid, alg and use set. */
  publicJwk: Record<string, string>;
}

export interface AppIdentity {
  keys: Record<AppKeyName, AppKey>;
  /** Self-signed X.509 certificate (PEM) of the RSA key: Trustflow's RA cert. */
  certPem: string;
  keySetDigest: Buffer;
  /** Public JWKS of all keys (what clients encrypt to). */
  jwks(): { keys: Array<Record<string, string>> };
  /** Finds a key by kid; undefined when unknown. */
  byKid(kid: string): AppKey | undefined;
}

const ALGS: Record<AppKeyName, string> = { rsa: 'RSA-OAEP-256', x25519: 'ECDH-ES', p256: 'ECDH-ES' };

function spki(k: KeyObject): Buffer {
  return k.export({ type: 'spki', format: 'der' });
}

export function computeKeySetDigest(publicKeys: KeyObject[]): Buffer {
  const h = createHash('sha256');
  for (const k of publicKeys) {
    const der = spki(k);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(der.length);
    h.update(len).update(der);
  }
  return h.digest();
}

/** The 64-byte REPORT_DATA binding a nonce and the app key set. */
export function attestationReportData(nonce: string, keySetDigest: Uint8Array): Buffer {
  return Buffer.concat([createHash('sha256').update(nonce, 'utf8').digest(), Buffer.from(keySetDigest)]);
}

function kidOf(k: KeyObject): string {
  return createHash('sha256').update(spki(k)).digest('base64url').slice(0, 16);
}

/** An app key from its private key (kid, JWK). */
export function makeAppKey(name: AppKeyName, privateKey: KeyObject): AppKey {
  const publicKey = createPublicKey(privateKey);
  const kid = kidOf(publicKey);
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  return { name, kid, privateKey, publicKey, publicJwk: { ...jwk, kid, alg: ALGS[name], use: 'enc' } };
}

/** A fresh private key of the named type. */
export function generateAppKey(name: AppKeyName): KeyObject {
  switch (name) {
    case 'rsa':
      return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    case 'x25519':
      return generateKeyPairSync('x25519').privateKey;
    case 'p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  }
}


/** The URI prefix under which the certificate names an agreement key (see the header). */
export const AGREEMENT_KEY_URI = 'urn:aenv:agreement-key:';

/** The subjectAltName URIs naming `keys` (SPKI DER, base64url). */
function agreementKeyUris(keys: KeyObject[]): string[] {
  return keys.map((k) => `${AGREEMENT_KEY_URI}${k.asymmetricKeyType === 'x25519' ? 'x25519' : 'p256'}:${spki(k).toString('base64url')}`);
}

/**
 * The agreement keys a certificate names (X25519 and P-256); empty when it
 * names none. A named key that does not decode, or is not of the type its URI
 * says, throws.
 */
export function agreementKeysOfCert(cert: string | Buffer): { x25519?: KeyObject; p256?: KeyObject } {
  const san = new x509.X509Certificate(cert).getExtension(x509.SubjectAlternativeNameExtension);
  const out: { x25519?: KeyObject; p256?: KeyObject } = {};
  for (const n of san?.names.items ?? []) {
    if (n.type !== 'url' || !n.value.startsWith(AGREEMENT_KEY_URI)) continue;
    const [kind, b64] = n.value.slice(AGREEMENT_KEY_URI.length).split(':');
    const key = createPublicKey({ key: Buffer.from(b64 ?? '', 'base64url'), format: 'der', type: 'spki' });
    const fits = kind === 'x25519' ? key.asymmetricKeyType === 'x25519' : kind === 'p256' && key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    if (!fits) throw new Error(`agreement key URI says ${kind} but carries a ${key.asymmetricKeyType} key`);
    if (kind === 'x25519') out.x25519 ??= key;
    else out.p256 ??= key;
  }
  return out;
}

/** Self-signed certificate of the RSA key (Trustflow's RA cert), naming `agreementKeys` when given. */
export async function selfSignedAppCert(key: AppKey, commonName: string, agreementKeys: KeyObject[] = []): Promise<string> {
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
  const privateKey = await webcrypto.subtle.importKey('pkcs8', key.privateKey.export({ type: 'pkcs8', format: 'der' }), alg, false, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki(key.publicKey), alg, true, ['verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: createHash('sha256').update(spki(key.publicKey)).digest('hex').slice(0, 16).replace(/^[89a-f]/, '1'),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 10 * 365 * 24 * 3600_000),
    keys: { privateKey, publicKey },
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      ...(agreementKeys.length ? [new x509.SubjectAlternativeNameExtension(agreementKeyUris(agreementKeys).map((value) => ({ type: 'url' as const, value })))] : []),
    ],
  });
  return cert.toString('pem');
}

/** An identity from its keys and certificate. */
export function buildAppIdentity(keys: Record<AppKeyName, AppKey>, certPem: string): AppIdentity {
  const byKid = new Map(APP_KEY_NAMES.map((n) => [keys[n].kid, keys[n]]));
  return {
    keys,
    certPem,
    keySetDigest: computeKeySetDigest(APP_KEY_NAMES.map((n) => keys[n].publicKey)),
    jwks: () => ({ keys: APP_KEY_NAMES.map((n) => keys[n].publicJwk) }),
    byKid: (kid) => byKid.get(kid),
  };
}

/** Fresh keys in memory only (tests, benchmarks). */
export async function createEphemeralAppIdentity(commonName = 'aenv-app'): Promise<AppIdentity> {
  const keys = Object.fromEntries(APP_KEY_NAMES.map((n) => [n, makeAppKey(n, generateAppKey(n))])) as Record<AppKeyName, AppKey>;
  return buildAppIdentity(keys, await selfSignedAppCert(keys.rsa, commonName, [keys.x25519.publicKey, keys.p256.publicKey]));
}
