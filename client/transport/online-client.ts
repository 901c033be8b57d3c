// The online-scenario client: attest the app, then talk to it through envelopes.
//   1. GET /.well-known/attestation?nonce=<fresh random nonce> (through Envoy, to ra-proxy)
//   2. verify it (evidence signature, nonce + key-set binding, appraisal policy)
//   3. seal the message to the attested key, POST it, open and print the reply.
// With --trustflow, the steps of Trustflow's own client: POST /RaProxy/GetRaCert
// {nonce}, verify the report (SHA-256(cert "." nonce) bound), seal to the cert's
// RSA key in Trustflow's form (RSA-OAEP-256 + A128GCM, GCM AAD = the empty aad
// member), POST to the app's path (Trustflow's sample: /teeapp).
//
//   node bin/aenv.js client --url http://127.0.0.1:8443 \
//        --sim-key sim.pub.pem [--alg rsa|x25519|p256] [--message hello]
import { ClientError } from '../errors.ts';
import { createPublicKey, randomBytes } from 'node:crypto';
import { createEvidenceVerifier } from '../../platforms/index.ts';
import { verifyAttestationDocument, verifyRaCertResponse } from '../../platforms/index.ts';
import type { AppraisalPolicy, Claims } from '../../platforms/index.ts';
import { openResponse, sealRequest, sealSessionRequest, sessionFromResponse, SESSION_HEADER, type Jwk } from '../../ext-proc/index.ts';
import type { ContentEnc } from '../../ext-proc/index.ts';

export interface OnlineClientOptions {
  url: string;
  message: string;
  path?: string;
  key?: 'rsa' | 'x25519' | 'p256';
  alg?: 'RSA-OAEP-256' | 'ECDH-ES' | 'ECDH-ES+A256KW';
  enc?: ContentEnc;
  compat?: 'rfc7516' | 'trustflow';
  /** PEM public keys of trusted sim signers (the sim platform has no hardware root). */
  trustedSimKeys?: string[];
  policy?: AppraisalPolicy;
  /** Follow-up messages sent through a session (`dir`) after the first exchange. */
  sessionMessages?: string[];
}

export interface OnlineClientResult {
  claims: Claims;
  kid: string;
  reply: string;
  sessionReplies: string[];
}

const ALG_OF = { rsa: 'RSA-OAEP-256', x25519: 'ECDH-ES', p256: 'ECDH-ES' } as const;

function pickKey(keys: Jwk[], name: 'rsa' | 'x25519' | 'p256'): Jwk {
  const k = keys.find((j) => (name === 'rsa' ? j.kty === 'RSA' : name === 'x25519' ? j.crv === 'X25519' : j.crv === 'P-256'));
  if (!k) throw new ClientError('KEY_NOT_FOUND', `the attested key set has no ${name} key`);
  return k;
}

/** Trustflow's client flow: GetRaCert, then one envelope in Trustflow's form to `path`. */
export async function runTrustflowClient(o: { url: string; message: string; path?: string; trustedSimKeys?: string[]; policy?: AppraisalPolicy }): Promise<OnlineClientResult> {
  const base = o.url.replace(/\/$/, '');
  const nonce = randomBytes(16).toString('hex');
  const raRes = await fetch(`${base}/RaProxy/GetRaCert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce }) });
  if (!raRes.ok) throw new ClientError('ATTESTATION_UNAVAILABLE', `GetRaCert: HTTP ${raRes.status}: ${await raRes.text()}`);
  const verifier = createEvidenceVerifier({ trustedSimKeys: o.trustedSimKeys ?? [] });
  const verified = await verifyRaCertResponse(await raRes.json(), { nonce, policy: o.policy ?? {}, verifier });
  const jwk = createPublicKey(verified.certPem).export({ format: 'jwk' }) as Jwk;
  const sealed = sealRequest(o.message, { jwk, alg: 'RSA-OAEP-256', enc: 'A128GCM', compat: 'trustflow' });
  const res = await fetch(`${base}${o.path ?? '/teeapp'}`, { method: 'POST', body: sealed.body, headers: { 'content-type': 'application/json' } });
  const text = await res.text();
  if (res.status !== 200) throw new ClientError('APP_REFUSED', `app: HTTP ${res.status}: ${text}`);
  return { claims: verified.claims, kid: jwk.kid ?? '(the GetRaCert certificate key)', reply: openResponse(text, sealed).toString('utf8'), sessionReplies: [] };
}

export async function runOnlineClient(o: OnlineClientOptions): Promise<OnlineClientResult> {
  const base = o.url.replace(/\/$/, '');
  const nonce = randomBytes(24).toString('base64url');
  const docRes = await fetch(`${base}/.well-known/attestation?nonce=${nonce}`);
  if (!docRes.ok) throw new ClientError('ATTESTATION_UNAVAILABLE', `attestation: HTTP ${docRes.status}: ${await docRes.text()}`);
  const verifier = createEvidenceVerifier({ trustedSimKeys: o.trustedSimKeys ?? [] });
  const verified = await verifyAttestationDocument(await docRes.json(), { nonce, policy: o.policy ?? {}, verifier });
  const keyName = o.key ?? 'rsa';
  const jwk = pickKey(verified.jwks.keys, keyName);
  const sealed = sealRequest(o.message, { jwk, alg: o.alg ?? ALG_OF[keyName], enc: o.enc ?? 'A128GCM', compat: o.compat ?? 'rfc7516' });
  const wantSession = (o.sessionMessages?.length ?? 0) > 0;
  const res = await fetch(`${base}${o.path ?? '/'}`, { method: 'POST', body: sealed.body, headers: { 'content-type': sealed.contentType, ...(wantSession ? { [SESSION_HEADER]: 'new' } : {}) } });
  const text = await res.text();
  if (res.status !== 200) throw new ClientError('APP_REFUSED', `app: HTTP ${res.status}: ${text}`);
  const reply = openResponse(text, sealed).toString('utf8');
  const sessionReplies: string[] = [];
  if (wantSession) {
    const session = sessionFromResponse(res.headers, sealed);
    for (const m of o.sessionMessages!) {
      const s = sealSessionRequest(m, session);
      const r = await fetch(`${base}${o.path ?? '/'}`, { method: 'POST', body: s.body, headers: { 'content-type': s.contentType } });
      const t = await r.text();
      if (r.status !== 200) throw new ClientError('APP_REFUSED', `app (session): HTTP ${r.status}: ${t}`);
      sessionReplies.push(openResponse(t, s).toString('utf8'));
    }
  }
  return { claims: verified.claims, kid: jwk.kid!, reply, sessionReplies };
}
