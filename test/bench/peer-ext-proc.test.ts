// The Go peer of the ext-proc benchmark (bench/peer-ext-proc) behind real Envoy
// with the online ingress's ext_proc filter: it must do the same envelopes as
// ext-proc, or the bench compares ours with something else. RSA-OAEP-256 and
// `dir` round trips (its own sessions and tickets sealed the way ext-proc seals
// them, from the same identity directory), the response envelope byte for byte in
// ext-proc's form, and every failure closed: nothing reaches the app.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildGoBenchServer } from '../../bench/ext-proc-envelope.ts';
import { Supervised } from '../../dev/child-process.ts';
import { freePort } from '../../dev/free-port.ts';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';
import { deriveSessionKey, openResponse, sealRequest, sealSessionRequest, sessionFromResponse, SESSION_HEADER, SessionTable, type Sealed } from '../../ext-proc/index.ts';
import { deriveTicketKey } from '../../ext-proc/core/session-table.ts';
import { loadOrCreateAppIdentity } from '../../platforms/index.ts';
import { echoApp, onlineStaticBootstrap } from '../helpers/ext-proc.ts';
import { startEnvoy } from '../helpers/envoy.ts';
import { startUpstream } from '../helpers/upstream.ts';

t.test('the Go peer ext_proc does the envelopes of ext-proc, fail closed', { timeout: 60_000 }, async (t) => {
  const dir = t.testdir();
  const bin = buildGoBenchServer('peer-ext-proc', dir);
  const idDir = join(dir, 'identity');
  const identity = await loadOrCreateAppIdentity(idDir, 'peer-test');
  const app = await startUpstream(t, echoApp);
  const peerPort = await freePort();
  const peer = new Supervised({ name: 'peer-ext-proc', bin, args: ['--port', String(peerPort), '--identity-dir', idDir], cwd: PROJECT_ROOT });
  t.teardown(() => peer.stop());
  await peer.waitFor(async () => /peer ext_proc gRPC on 127\.0\.0\.1:\d+/.test(peer.outputTail()), 'listening');
  const listenPort = await freePort();
  const envoy = await startEnvoy(t, { name: 'peer-ext-proc', bootstrap: onlineStaticBootstrap({ listenPort, appPort: app.port, extProcPort: peerPort }) });
  const url = `http://127.0.0.1:${listenPort}/peer`;
  const post = (s: Pick<Sealed, 'body' | 'contentType'>, headers: Record<string, string> = {}) => fetch(url, { method: 'POST', body: s.body, headers: { 'content-type': s.contentType, ...headers } });
  const reached = (plaintext: string) => app.requests.filter((r) => r.body === plaintext).length;

  t.test('RSA-OAEP-256: decrypted for the app, the response encrypted as ext-proc does', async (t) => {
    const sealed = sealRequest('hello rsa', { jwk: identity.keys.rsa.publicJwk });
    const res = await post(sealed);
    t.equal(res.status, 200);
    t.equal(res.headers.get('content-type'), 'application/jose+json');
    const text = await res.text();
    t.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)));
    t.equal(openResponse(text, sealed).toString(), 'I got your message: hello rsa');
    const env = JSON.parse(text) as Record<string, string>;
    t.same(Object.keys(env), ['protected', 'iv', 'ciphertext', 'tag'], 'flattened JSON, ext-proc member order');
    t.equal(Buffer.from(env.protected!, 'base64url').toString(), '{"alg":"dir","enc":"A128GCM","cty":"text/plain"}', 'protected header byte for byte');
    const seen = app.requests.at(-1)!;
    t.equal(seen.body, 'hello rsa', 'the app got the plaintext');
    t.equal(seen.headers['content-type'], 'application/octet-stream');
    t.equal(seen.headers['content-length'], '9');
    // Compact in, compact out; a protected cty becomes the app's content type.
    const compact = sealRequest('{"k":1}', { jwk: identity.keys.rsa.publicJwk, form: 'compact', enc: 'A256GCM', header: { cty: 'application/json' } });
    const res2 = await post(compact);
    t.equal(res2.status, 200);
    t.equal(res2.headers.get('content-type'), 'application/jose');
    t.equal(openResponse(await res2.text(), compact).toString(), 'I got your message: {"k":1}');
    t.equal(app.requests.at(-1)!.headers['content-type'], 'application/json');
  });

  t.test('dir: a session of the peer, and a ticket sealed as ext-proc seals it', async (t) => {
    const first = sealRequest('open', { jwk: identity.keys.rsa.publicJwk });
    const res = await post(first, { [SESSION_HEADER]: 'new' });
    t.equal(res.status, 200);
    t.equal(openResponse(await res.text(), first).toString(), 'I got your message: open');
    t.notOk(app.requests.at(-1)!.headers[SESSION_HEADER], 'the session header does not reach the app');
    const session = sessionFromResponse(res.headers, first);
    t.ok(session.expiresAt > Date.now() + 500_000, 'expires in about ttl');
    const dir = sealSessionRequest('hello dir', session);
    const res2 = await post(dir);
    t.equal(res2.status, 200);
    const text = await res2.text();
    t.equal(openResponse(text, dir).toString(), 'I got your message: hello dir');
    t.equal(Buffer.from((JSON.parse(text) as { protected: string }).protected, 'base64url').toString(), `{"alg":"dir","enc":"A128GCM","kid":"${session.id}","cty":"text/plain"}`);
    // A ticket from ext-proc's own session table with the ticket key of this identity.
    const rsaDer = identity.keys.rsa.privateKey.export({ format: 'der', type: 'pkcs8' });
    const ours = new SessionTable({ ttlMs: 60_000, maxEntries: 4, maxUses: 100, ticketKey: deriveTicketKey(rsaDer) });
    const cek = randomBytes(32);
    const created = ours.create(cek, 'A256GCM');
    const oursSession = { id: created.id, key: deriveSessionKey(cek, 'A256GCM', created.id), enc: 'A256GCM' as const, expiresAt: created.expiresAt };
    const dir2 = sealSessionRequest('ticket of ext-proc', oursSession);
    const res3 = await post(dir2);
    t.equal(res3.status, 200);
    t.equal(openResponse(await res3.text(), dir2).toString(), 'I got your message: ticket of ext-proc');
  });

  t.test('failures are immediate 4xx with {code, message}; nothing reaches the app', async (t) => {
    const expect = async (what: string, body: Pick<Sealed, 'body' | 'contentType'>, status: number, code: string, plaintext: string) => {
      const res = await post(body);
      t.equal(res.status, status, `${what}: ${status}`);
      t.match(await res.json(), { code, message: String }, `${what}: ${code}`);
      t.equal(reached(plaintext), 0, `${what}: nothing reached the app`);
    };
    const tampered = sealRequest('tampered', { jwk: identity.keys.rsa.publicJwk });
    const env = JSON.parse(tampered.body) as Record<string, string>;
    const ct = Buffer.from(env.ciphertext!, 'base64url');
    ct[0]! ^= 1;
    await expect('flipped ciphertext bit', { body: JSON.stringify({ ...env, ciphertext: ct.toString('base64url') }), contentType: tampered.contentType }, 400, 'DECRYPT_FAILED', 'tampered');
    const ek = Buffer.from(env.encrypted_key!, 'base64url');
    ek[10]! ^= 1;
    await expect('flipped encrypted_key bit', { body: JSON.stringify({ ...env, encrypted_key: ek.toString('base64url') }), contentType: tampered.contentType }, 400, 'DECRYPT_FAILED', 'tampered');
    const session = { id: `${randomBytes(16).toString('base64url')}.${randomBytes(42).toString('base64url')}`, key: randomBytes(16), enc: 'A128GCM' as const, expiresAt: 0 };
    await expect('forged ticket', sealSessionRequest('forged', session), 401, 'SESSION_UNKNOWN', 'forged');
    // Another identity's ticket, and one of this identity that has expired.
    const other = await loadOrCreateAppIdentity(t.testdir(), 'other');
    const otherTable = new SessionTable({ ttlMs: 60_000, maxEntries: 4, maxUses: 100, ticketKey: deriveTicketKey(other.keys.rsa.privateKey.export({ format: 'der', type: 'pkcs8' })) });
    const cek = randomBytes(16);
    const foreign = otherTable.create(cek, 'A128GCM');
    await expect('foreign ticket', sealSessionRequest('foreign', { id: foreign.id, key: deriveSessionKey(cek, 'A128GCM', foreign.id), enc: 'A128GCM', expiresAt: foreign.expiresAt }), 401, 'SESSION_UNKNOWN', 'foreign');
    const expiredTable = new SessionTable({ ttlMs: 1_000, maxEntries: 4, maxUses: 100, ticketKey: deriveTicketKey(identity.keys.rsa.privateKey.export({ format: 'der', type: 'pkcs8' })), now: () => Date.now() - 10_000 });
    const expired = expiredTable.create(cek, 'A128GCM');
    await expect('expired ticket', sealSessionRequest('expired', { id: expired.id, key: deriveSessionKey(cek, 'A128GCM', expired.id), enc: 'A128GCM', expiresAt: expired.expiresAt }), 401, 'SESSION_UNKNOWN', 'expired');
    await expect('not JSON', { body: '{"protected": ', contentType: 'application/jose+json' }, 400, 'MALFORMED_ENVELOPE', '{"protected": ');
    await expect('ECDH-ES (not in the peer)', sealRequest('ecdh', { jwk: identity.keys.x25519.publicJwk }), 400, 'UNSUPPORTED_ALG', 'ecdh');
  });

  t.test('a plain request passes untouched', async (t) => {
    const res = await fetch(url, { method: 'POST', body: 'plain body', headers: { 'content-type': 'application/octet-stream' } });
    t.equal(res.status, 200);
    t.equal(await res.text(), 'I got your message: plain body');
    t.equal(res.headers.get('content-type'), 'text/plain');
  });

  t.test('the peer closes its side streams gracefully (no reset)', async (t) => {
    t.ok(((await envoy.stat('cluster.ext_proc.upstream_rq_total')) ?? 0) >= 10, 'side streams went to the peer');
    t.equal((await envoy.stat('cluster.ext_proc.upstream_rq_rx_reset')) ?? 0, 0, 'rx_reset 0');
    t.equal((await envoy.stat('cluster.ext_proc.upstream_rq_tx_reset')) ?? 0, 0, 'tx_reset 0');
  });
});
