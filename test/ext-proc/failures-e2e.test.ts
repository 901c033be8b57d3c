// Every failure case through real Envoy: an immediate 4xx with a JSON {code,
// message}, and nothing forwarded to the app. Logs never carry the plaintext.
import t from 'tap';
import { Writable } from 'node:stream';
import { generateKeyPairSync } from 'node:crypto';
import { createLogger } from '../../foundation/logger.ts';
import { sealRequest, SESSION_HEADER } from '../../ext-proc/core/envelope-client.ts';
import { startOnlineStack, testIdentity } from '../helpers/ext-proc.ts';
import { startExtProc } from '../../ext-proc/start.ts';

function tamper(b64: string, at = 0): string {
  const buf = Buffer.from(b64, 'base64url');
  buf[at] = buf[at]! ^ 1;
  return buf.toString('base64url');
}

t.test('failures are immediate 4xx JSON and never reach the app', async (t) => {
  const logLines: string[] = [];
  const logger = createLogger('ext-proc', { level: 'debug', destination: new Writable({ write(c, _e, cb) { logLines.push(String(c)); cb(); } }) });
  const identity = await testIdentity();
  // The stack's own ext-proc is replaced by one with a capturing logger and a small body limit.
  const s = await startOnlineStack(t, { config: { maxBodyBytes: 4096, http: { port: 0 } }, identity });
  await s.extProc.close();
  const ep = await startExtProc({ maxBodyBytes: 4096, grpc: { port: s.extProc.port }, http: { port: 0 } }, { identity, logger });
  t.teardown(() => ep.close());
  const { keys } = identity;
  const SECRET = 'top-secret-plaintext-4711';
  const good = () => JSON.parse(sealRequest(SECRET, { jwk: keys.rsa.publicJwk }).body) as Record<string, string>;
  const withHeader = (h: Record<string, unknown>, base = good()) => ({ ...base, protected: Buffer.from(JSON.stringify(h)).toString('base64url') });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as Record<string, string>;

  const cases: Array<{ name: string; body: string; type?: string; status: number; code: string; headers?: Record<string, string> }> = [
    { name: 'malformed JSON (jose+json)', body: '{"protected": "abc", ', type: 'application/jose+json', status: 400, code: 'MALFORMED_ENVELOPE' },
    { name: 'JWE-shaped with bad base64', body: JSON.stringify({ ...good(), iv: '***' }), status: 400, code: 'MALFORMED_ENVELOPE' },
    { name: 'protected header not JSON', body: JSON.stringify({ ...good(), protected: Buffer.from('nope').toString('base64url') }), status: 400, code: 'MALFORMED_ENVELOPE' },
    { name: 'compact with 4 parts', body: 'a.b.c.d', type: 'application/jose', status: 400, code: 'MALFORMED_ENVELOPE' },
    { name: 'short iv', body: JSON.stringify({ ...good(), iv: 'AAAA' }), status: 400, code: 'MALFORMED_ENVELOPE' },
    { name: 'unknown alg', body: JSON.stringify(withHeader({ alg: 'RSA1_5', enc: 'A128GCM' })), status: 400, code: 'UNSUPPORTED_ALG' },
    { name: 'unknown enc', body: JSON.stringify(withHeader({ alg: 'RSA-OAEP-256', enc: 'A128CBC-HS256' })), status: 400, code: 'UNSUPPORTED_ENC' },
    { name: 'crit header', body: JSON.stringify(withHeader({ alg: 'RSA-OAEP-256', enc: 'A128GCM', crit: ['b64'], b64: false })), status: 400, code: 'UNSUPPORTED_HEADER' },
    { name: 'zip header', body: JSON.stringify(withHeader({ alg: 'RSA-OAEP-256', enc: 'A128GCM', zip: 'DEF' })), status: 400, code: 'UNSUPPORTED_HEADER' },
    { name: 'unknown kid', body: JSON.stringify(withHeader({ alg: 'RSA-OAEP-256', enc: 'A128GCM', kid: 'nobody' })), status: 400, code: 'UNKNOWN_KEY' },
    { name: 'kid of the wrong key type', body: JSON.stringify(withHeader({ alg: 'RSA-OAEP-256', enc: 'A128GCM', kid: keys.x25519.kid })), status: 400, code: 'UNKNOWN_KEY' },
    { name: 'wrong key (sealed to another RSA key)', body: sealRequest(SECRET, { jwk: { ...other, kid: 'x', alg: 'RSA-OAEP-256' }, compat: 'trustflow' }).body.replace('"aad":"",', ''), status: 400, code: 'DECRYPT_FAILED' },
    { name: 'tampered tag', body: JSON.stringify(((j) => ({ ...j, tag: tamper(j.tag!) }))(good())), status: 400, code: 'DECRYPT_FAILED' },
    { name: 'tampered ciphertext', body: JSON.stringify(((j) => ({ ...j, ciphertext: tamper(j.ciphertext!) }))(good())), status: 400, code: 'DECRYPT_FAILED' },
    { name: 'tampered encrypted_key', body: JSON.stringify(((j) => ({ ...j, encrypted_key: tamper(j.encrypted_key!, 5) }))(good())), status: 400, code: 'DECRYPT_FAILED' },
    // Same alg/enc, different bytes: RFC 7516 authenticates the header through the AAD.
    { name: 'tampered protected header', body: JSON.stringify(((j) => ({ ...j, protected: Buffer.from(JSON.stringify({ enc: 'A128GCM', alg: 'RSA-OAEP-256' })).toString('base64url') }))(good())), status: 400, code: 'DECRYPT_FAILED' },
    { name: 'tampered aad member', body: JSON.stringify({ ...good(), aad: 'eA' }), status: 400, code: 'DECRYPT_FAILED' },
    { name: 'unknown session', body: JSON.stringify(withHeader({ alg: 'dir', enc: 'A128GCM', kid: 'no-such-session' }, { ...good(), encrypted_key: '' })), status: 401, code: 'SESSION_UNKNOWN' },
    { name: 'ECDH-ES with a bad epk', body: JSON.stringify(withHeader({ alg: 'ECDH-ES', enc: 'A128GCM', epk: { kty: 'OKP', crv: 'X25519', x: 'AAAA' } }, { ...good(), encrypted_key: '' })), status: 400, code: 'MALFORMED_ENVELOPE' },
    { name: 'ECDH-ES on an unknown curve', body: JSON.stringify(withHeader({ alg: 'ECDH-ES', enc: 'A128GCM', epk: { kty: 'EC', crv: 'P-384', x: 'AA', y: 'AA' } }, { ...good(), encrypted_key: '' })), status: 400, code: 'UNKNOWN_KEY' },
    { name: 'oversized body', body: JSON.stringify({ ...good(), ciphertext: 'A'.repeat(8000) }), status: 413, code: 'BODY_TOO_LARGE' },
  ];
  for (const c of cases) {
    const before = s.app.requests.length;
    const res = await fetch(`${s.url}/x`, { method: 'POST', body: c.body, headers: { 'content-type': c.type ?? 'application/json', ...c.headers } });
    t.equal(res.status, c.status, `${c.name}: HTTP ${c.status}`);
    t.equal(res.headers.get('content-type'), 'application/json', `${c.name}: JSON error`);
    const body = (await res.json()) as { code: string; message: string };
    t.equal(body.code, c.code, `${c.name}: code ${c.code} (${body.message})`);
    t.equal(s.app.requests.length, before, `${c.name}: nothing forwarded`);
  }

  // Oversized without content-length (chunked): caught in the body phase.
  const chunked = new ReadableStream({ start(ctl) { ctl.enqueue(new TextEncoder().encode(JSON.stringify({ ...good(), ciphertext: 'A'.repeat(6000) }))); ctl.close(); } });
  const res = await fetch(`${s.url}/x`, { method: 'POST', body: chunked, duplex: 'half', headers: { 'content-type': 'application/json' } } as RequestInit);
  t.equal(res.status, 413, 'chunked oversized body: 413');
  t.equal(((await res.json()) as { code: string }).code, 'BODY_TOO_LARGE');

  // A good envelope still works, with the session header for the metrics below.
  const ok = sealRequest(SECRET, { jwk: keys.rsa.publicJwk });
  const r2 = await fetch(`${s.url}/x`, { method: 'POST', body: ok.body, headers: { 'content-type': ok.contentType, [SESSION_HEADER]: 'new' } });
  t.equal(r2.status, 200);
  await r2.text();

  const metrics = await (await fetch(`http://127.0.0.1:${ep.httpPort}/metrics`)).text();
  t.match(metrics, /aenv_ext_proc_errors_total\{code="DECRYPT_FAILED"\} 6/, 'metrics count errors by code');
  t.match(metrics, /aenv_ext_proc_decrypts_total\{alg="RSA-OAEP-256"\} 1/, 'metrics count decrypts by alg');
  t.match(metrics, /aenv_ext_proc_sessions 1/, 'sessions gauge');
  const logs = logLines.join('');
  t.match(logs, /envelope rejected/, 'rejections are logged');
  t.notMatch(logs, new RegExp(SECRET), 'plaintext never logged');
  t.notMatch(logs, new RegExp(ok.cek.toString('base64url')), 'CEK never logged');
});

t.test('plain: reject makes every unencrypted request a 400', async (t) => {
  const s = await startOnlineStack(t, { config: { plain: 'reject' } });
  for (const [name, init] of [
    ['plain JSON', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } }],
    ['other content type', { method: 'POST', body: 'x', headers: { 'content-type': 'application/octet-stream' } }],
    ['GET', { method: 'GET' }],
  ] as const) {
    const res = await fetch(`${s.url}/x`, init as RequestInit);
    t.equal(res.status, 400, `${name}: 400`);
    t.equal(((await res.json()) as { code: string }).code, 'ENCRYPTION_REQUIRED');
  }
  t.equal(s.app.requests.length, 0, 'nothing forwarded');
  const ok = sealRequest('fine', { jwk: s.identity.keys.x25519.publicJwk });
  const res = await fetch(`${s.url}/x`, { method: 'POST', body: ok.body, headers: { 'content-type': ok.contentType } });
  t.equal(res.status, 200, 'envelopes still accepted');
  t.equal(s.app.requests.length, 1);
});
