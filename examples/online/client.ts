// The online-scenario client: attest the app, then talk to it through envelopes.
//   1. GET /.well-known/attestation?nonce=<fresh random nonce> (through Envoy, to ra-proxy)
//   2. verify it (evidence signature, nonce + key-set binding, appraisal policy)
//   3. seal the message to the attested key, POST it, open and print the reply.
// With --trustflow, the steps of Trustflow's own client: POST /RaProxy/GetRaCert
// {nonce}, verify the report (SHA-256(cert "." nonce) bound), seal to the cert's
// RSA key in Trustflow's form (RSA-OAEP-256 + A128GCM, GCM AAD = the empty aad
// member), POST to the app's path (Trustflow's sample: /teeapp).
//
//   node --import=tsx examples/online/client.ts --url http://127.0.0.1:8443 \
//        --sim-key sim.pub.pem [--alg rsa|x25519|p256] [--message hello]
import { createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseCliArgs } from '../../kernel/cli-args.ts';
import { createEvidenceVerifier } from '../../platforms/index.ts';
import { verifyAttestationDocument, verifyRaCertResponse } from '../../platforms/client/verify-attestation.ts';
import type { AppraisalPolicy, Claims } from '../../platforms/types.ts';
import { openResponse, sealRequest, sealSessionRequest, sessionFromResponse, SESSION_HEADER, type Jwk } from '../../ext-proc/client/envelope-client.ts';
import type { ContentEnc } from '../../ext-proc/config.ts';

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
  if (!k) throw new Error(`the attested key set has no ${name} key`);
  return k;
}

/** Trustflow's client flow: GetRaCert, then one envelope in Trustflow's form to `path`. */
export async function runTrustflowClient(o: { url: string; message: string; path?: string; trustedSimKeys?: string[]; policy?: AppraisalPolicy }): Promise<OnlineClientResult> {
  const base = o.url.replace(/\/$/, '');
  const nonce = randomBytes(16).toString('hex');
  const raRes = await fetch(`${base}/RaProxy/GetRaCert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce }) });
  if (!raRes.ok) throw new Error(`GetRaCert: HTTP ${raRes.status}: ${await raRes.text()}`);
  const verifier = createEvidenceVerifier({ trustedSimKeys: o.trustedSimKeys ?? [] });
  const verified = await verifyRaCertResponse(await raRes.json(), { nonce, policy: o.policy ?? {}, verifier });
  const jwk = createPublicKey(verified.certPem).export({ format: 'jwk' }) as Jwk;
  const sealed = sealRequest(o.message, { jwk, alg: 'RSA-OAEP-256', enc: 'A128GCM', compat: 'trustflow' });
  const res = await fetch(`${base}${o.path ?? '/teeapp'}`, { method: 'POST', body: sealed.body, headers: { 'content-type': 'application/json' } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`app: HTTP ${res.status}: ${text}`);
  return { claims: verified.claims, kid: jwk.kid ?? '(the GetRaCert certificate key)', reply: openResponse(text, sealed).toString('utf8'), sessionReplies: [] };
}

export async function runOnlineClient(o: OnlineClientOptions): Promise<OnlineClientResult> {
  const base = o.url.replace(/\/$/, '');
  const nonce = randomBytes(24).toString('base64url');
  const docRes = await fetch(`${base}/.well-known/attestation?nonce=${nonce}`);
  if (!docRes.ok) throw new Error(`attestation: HTTP ${docRes.status}: ${await docRes.text()}`);
  const verifier = createEvidenceVerifier({ trustedSimKeys: o.trustedSimKeys ?? [] });
  const verified = await verifyAttestationDocument(await docRes.json(), { nonce, policy: o.policy ?? {}, verifier });
  const keyName = o.key ?? 'rsa';
  const jwk = pickKey(verified.jwks.keys, keyName);
  const sealed = sealRequest(o.message, { jwk, alg: o.alg ?? ALG_OF[keyName], enc: o.enc ?? 'A128GCM', compat: o.compat ?? 'rfc7516' });
  const wantSession = (o.sessionMessages?.length ?? 0) > 0;
  const res = await fetch(`${base}${o.path ?? '/'}`, { method: 'POST', body: sealed.body, headers: { 'content-type': sealed.contentType, ...(wantSession ? { [SESSION_HEADER]: 'new' } : {}) } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`app: HTTP ${res.status}: ${text}`);
  const reply = openResponse(text, sealed).toString('utf8');
  const sessionReplies: string[] = [];
  if (wantSession) {
    const session = sessionFromResponse(res.headers, sealed);
    for (const m of o.sessionMessages!) {
      const s = sealSessionRequest(m, session);
      const r = await fetch(`${base}${o.path ?? '/'}`, { method: 'POST', body: s.body, headers: { 'content-type': s.contentType } });
      const t = await r.text();
      if (r.status !== 200) throw new Error(`app (session): HTTP ${r.status}: ${t}`);
      sessionReplies.push(openResponse(t, s).toString('utf8'));
    }
  }
  return { claims: verified.claims, kid: jwk.kid!, reply, sessionReplies };
}

const USAGE = `usage: online-client --url URL (--sim-key FILE | --trust-served-sim-key) [--message hello]
       [--key rsa|x25519|p256] [--alg RSA-OAEP-256|ECDH-ES|ECDH-ES+A256KW] [--enc A128GCM|A256GCM]
       [--compat rfc7516|trustflow] [--path /] [--measurement name=hex ...] [--session MSG ...]
       online-client --trustflow --url URL --sim-key FILE [--path /teeapp] [--message hello]

Attests the app behind Envoy (sim platform: --allow-insecure is implied by a sim key),
sends the message in a JWE envelope and prints the decrypted reply.
--trust-served-sim-key fetches the sim key from /.well-known/sim-key: demo only, it
proves nothing.
--trustflow runs Trustflow's client steps (GetRaCert, Trustflow's envelope form) against
an ingress whose ext-proc is in compat: trustflow (the demo's, default port 50001).`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCliArgs(
    argv,
    {
      options: {
        url: { type: 'string' }, message: { type: 'string', default: 'hello' }, path: { type: 'string' },
        key: { type: 'string', default: 'rsa' }, alg: { type: 'string' }, enc: { type: 'string', default: 'A128GCM' },
        compat: { type: 'string', default: 'rfc7516' }, 'sim-key': { type: 'string', multiple: true },
        'trust-served-sim-key': { type: 'boolean' }, measurement: { type: 'string', multiple: true },
        session: { type: 'string', multiple: true }, trustflow: { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' }, help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  if (!v.url) {
    process.stderr.write(`--url is required\n${USAGE}\n`);
    return 2;
  }
  try {
    const trustedSimKeys = (v['sim-key'] ?? []).map((f) => readFileSync(f, 'utf8'));
    if (v['trust-served-sim-key']) {
      const r = await fetch(`${v.url.replace(/\/$/, '')}/.well-known/sim-key`);
      if (!r.ok) throw new Error(`sim-key: HTTP ${r.status}`);
      trustedSimKeys.push(await r.text());
    }
    const measurements = Object.fromEntries((v.measurement ?? []).map((m) => m.split('=', 2) as [string, string]));
    const policy = { allowInsecure: trustedSimKeys.length > 0, ...(Object.keys(measurements).length ? { measurements } : {}) };
    const out = v.trustflow
      ? await runTrustflowClient({ url: v.url, message: v.message!, path: v.path, trustedSimKeys, policy })
      : await runOnlineClient({
      url: v.url, message: v.message!, path: v.path, key: v.key as 'rsa', alg: v.alg as 'ECDH-ES' | undefined, enc: v.enc as ContentEnc,
      compat: v.compat as 'rfc7516', trustedSimKeys, sessionMessages: v.session, policy,
    });
    if (v.verbose) process.stderr.write(`attested: platform ${out.claims.platform}, key ${out.kid}\n`);
    process.stdout.write(`${out.reply}\n`);
    for (const r of out.sessionReplies) process.stdout.write(`${r}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`online-client: ${(e as Error).message}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2)).then((c) => process.exit(c));
