// Attested release sessions over real gRPC against a real capsule manager (sim
// TEE): an app attests once and releases keys under the session key; every
// release is still decided by the policy (a rule deleted mid-session denies at
// once) and audited; a replayed or tampered message is refused and a tampered
// one consumes nothing; opening needs evidence bound to the signed nonce;
// evicted, spent and disabled sessions answer clear codes, and ReleaseSessions
// opens a new session where the CM no longer holds the old one.
import t, { type Test } from 'tap';
import { createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { grpcurlBin } from '../../dev/toolchain.ts';
import { freePort } from '../../dev/free-port.ts';
import { EncryptedRequest, type EncryptedResponse } from '../../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import { ReleaseSessionsClient } from '../../proto/gen/aenv/capsule_manager/v1/release_sessions.ts';
import { sealRequest } from '../../capsule-manager/core/envelope.ts';
import { sealSessionMessage } from '../../capsule-manager/core/session/envelope.ts';
import { sessionBinding } from '../../capsule-manager/core/session/open.ts';
import { generatePartyKeys, type PartyKeys } from '../../capsule-manager/index.ts';
import { evidenceToUal } from '../../platforms/index.ts';
import { APP_MR, startTestCapsuleManager, type CmFixture } from '../helpers/capsule-manager.ts';

const rrOf = (app: PartyKeys, uri = 'd1') => ({ initiator_party_id: app.partyId, scope: '', op_name: 'read', resources: [{ resource_uri: uri, columns: [], attrs: '' }], env: '', global_attrs: '' });

async function world(t: Test, over: Parameters<typeof startTestCapsuleManager>[1] = {}) {
  const f = await startTestCapsuleManager(t, over);
  const [alice, app] = await Promise.all([generatePartyKeys('alice'), generatePartyKeys('app')]);
  const owner = f.client(alice);
  await owner.registerCert();
  const key = randomBytes(16).toString('base64');
  await owner.createDataKeys([{ resource_uri: 'd1', data_key_b64: key }]);
  await owner.createDataPolicy({
    data_uuid: 'd1',
    rules: [{ rule_id: 'r', grantee_party_ids: [app.partyId], columns: ['*'], op_constraints: [{ op_name: 'read', constraints: [`r.env.tee.sim.mr_ta == "${APP_MR}"`] }], global_constraints: ['r.env.tee.platform == "sim"'] }],
  });
  return { f, owner, app, appClient: f.client(app), key };
}

/** A raw gRPC client of aenv.capsule_manager.v1.ReleaseSessions (what a stranger's tool would send). */
function raw(t: Test, f: CmFixture) {
  const c = new ReleaseSessionsClient(`127.0.0.1:${f.cm.grpcPort}`, grpc.credentials.createInsecure());
  t.teardown(() => c.close());
  const call = (method: 'openReleaseSession' | 'getDataKeys', req: EncryptedRequest) =>
    new Promise<{ resp?: EncryptedResponse; code?: string; status?: number }>((resolve) =>
      c[method](req, (e: grpc.ServiceError | null, r: EncryptedResponse) => resolve(e ? { code: String(e.metadata.get('x-error-code')[0] ?? ''), status: e.code } : { resp: r })),
    );
  return call;
}

function auditLines(f: CmFixture): Array<{ action: string; decision: string; session?: string; reasons?: string[] }> {
  return readFileSync(join(f.dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

t.test('one attestation, many releases; the policy still decides each; all audited', async (t) => {
  const { f, owner, app, appClient, key } = await world(t);
  const session = await appClient.openReleaseSession(f.appAttester);
  t.match(session.id, /^[A-Za-z0-9_-]{22}$/, 'a session id');
  t.ok(session.expiresAt.getTime() > Date.now() + 250_000 && session.expiresAt.getTime() <= Date.now() + 300_000, 'living the default 300 s');
  const keys = await session.getDataKeys(rrOf(app));
  t.same(keys, [{ resource_uri: 'd1', data_key_b64: key }], 'the data key, as a per-request release gives it');
  t.same(await appClient.getDataKeys(rrOf(app), f.appAttester), keys, 'the per-request release agrees');

  const many = await Promise.all(Array.from({ length: 40 }, () => session.getDataKeys(rrOf(app))));
  t.ok(many.every((k) => k[0]?.data_key_b64 === key), '40 concurrent releases over one session (out-of-order seqs within the window)');

  const lines = auditLines(f);
  t.ok(lines.some((l) => l.action === 'OpenReleaseSession' && l.decision === 'allow' && l.session === session.id), 'the open is audited with its session');
  t.equal(lines.filter((l) => l.action === 'GetDataKeys' && l.decision === 'allow' && l.session === session.id).length, 41, 'every release in the session is audited');

  await owner.deleteDataRule('d1', 'r');
  await t.rejects(session.getDataKeys(rrOf(app)), { code: 'POLICY_DENIED' }, 'a rule deleted mid-session denies the next release at once');
  t.ok(auditLines(f).some((l) => l.action === 'GetDataKeys' && l.decision === 'deny' && l.session === session.id), 'the denial is audited with its session');
  await t.rejects(session.getDataKeys(rrOf(app, 'nope')), { code: 'POLICY_DENIED' }, 'an unknown resource is denied');

  const metrics = await (await fetch(`http://127.0.0.1:${f.cm.httpPort}/metrics`)).text();
  t.match(metrics, /rpc="SessionGetDataKeys"/, 'session releases are in the metrics');
  // Debuggable as the rest: gRPC reflection names the service and its methods (async: a synchronous child would block this process's server).
  const { stdout } = await promisify(execFile)(grpcurlBin(), ['-plaintext', `127.0.0.1:${f.cm.grpcPort}`, 'describe', 'aenv.capsule_manager.v1.ReleaseSessions'], { encoding: 'utf8', timeout: 20_000 });
  t.match(stdout, /service ReleaseSessions[\s\S]*rpc GetDataKeys[\s\S]*rpc OpenReleaseSession/, 'grpcurl describes ReleaseSessions');
});

t.test('the claims the session verified are what rules see', async (t) => {
  const { f, owner, app, appClient } = await world(t);
  await owner.addDataRule('d1', { rule_id: 'other-tee', grantee_party_ids: [app.partyId], columns: ['*'], op_constraints: [{ op_name: 'write', constraints: [`r.env.tee.sim.mr_ta == "${'b2'.repeat(32)}"`] }], global_constraints: [] });
  const session = await appClient.openReleaseSession(f.appAttester);
  t.equal((await session.getDataKeys(rrOf(app))).length, 1, 'mr_ta of the attested app satisfies the read rule');
  await t.rejects(session.getDataKeys({ ...rrOf(app), op_name: 'write' }), { code: 'POLICY_DENIED' }, 'a rule asking for another measurement denies');
  // The client cannot write r.env.tee: the session's claims are the CM's.
  await t.rejects(session.getDataKeys({ ...rrOf(app), op_name: 'write', env: JSON.stringify({ tee: { sim: { mr_ta: 'b2'.repeat(32) } } }) }), { code: 'POLICY_DENIED' }, 'env.tee from the client is ignored');
});

t.test('replayed, tampered and foreign messages', async (t) => {
  const { f, app, appClient } = await world(t);
  const session = await appClient.openReleaseSession(f.appAttester);
  const sKey = (session as unknown as { key: Buffer }).key;
  const call = raw(t, f);
  const msg = (seq: number, kid = session.id, k = sKey) => EncryptedRequest.fromJSON({ message: sealSessionMessage(k, { kid, seq }, 'aenv-release-request', { resource_request: rrOf(app) }) });

  const first = msg(1000);
  t.ok((await call('getDataKeys', first)).resp, 'a raw session message is served');
  const again = await call('getDataKeys', first);
  t.equal(again.code, 'REPLAYED', 'its byte-identical replay is refused');
  t.equal(again.status, grpc.status.PERMISSION_DENIED);
  t.ok(auditLines(f).some((l) => l.decision === 'deny' && l.session === session.id && /already used/.test(l.reasons?.[0] ?? '')), 'the replay is audited');
  const both = await Promise.all([call('getDataKeys', msg(1001)), call('getDataKeys', msg(1001))]);
  t.same(both.map((r) => (r.resp ? 'served' : r.code)).sort(), ['REPLAYED', 'served'], 'of two concurrent copies one is served');
  t.ok((await call('getDataKeys', msg(3000))).resp, 'a jump forward');
  t.equal((await call('getDataKeys', msg(1500))).code, 'REPLAYED', 'a seq below the window is refused');

  const good = msg(3001);
  const bad = EncryptedRequest.fromJSON({ message: { ...(EncryptedRequest.toJSON(good) as { message: Record<string, string> }).message, tag: Buffer.alloc(16, 1).toString('base64url') } });
  t.equal((await call('getDataKeys', bad)).code, 'BAD_ENVELOPE', 'a tampered message is refused');
  t.ok((await call('getDataKeys', good)).resp, 'and consumed nothing: the genuine message with that seq is served');

  t.equal((await call('getDataKeys', msg(1, session.id, randomBytes(32)))).code, 'BAD_ENVELOPE', 'a message under another key (a guessed session) is refused');
  t.equal((await call('getDataKeys', msg(1, randomBytes(16).toString('base64url')))).code, 'SESSION_UNKNOWN', 'an unknown session id');
  t.equal((await call('getDataKeys', EncryptedRequest.fromJSON({ message: { protected: 'e30', ciphertext: '' } }))).code, 'BAD_ENVELOPE', 'a message that is no session message');
  t.equal((await call('getDataKeys', EncryptedRequest.fromJSON({}))).code, 'BAD_ENVELOPE', 'an empty request');

  // A per-request envelope (JWE to the CM's key) is not a session message either.
  const perRequest = await sealRequest({ resource_request: rrOf(app) }, createPublicKey(f.cm.certPem), { privateKey: app.privateKey, certChainPem: [app.certPem] });
  t.equal((await call('getDataKeys', EncryptedRequest.fromJSON({ message: perRequest.message, has_signature: true }))).code, 'BAD_ENVELOPE', 'a Trustflow envelope sent to the session RPC');
});

t.test('opening: evidence bound to the signed nonce, fresh, by the attested key', async (t) => {
  const { f, app, appClient } = await world(t);
  const call = raw(t, f);
  const cmKey = createPublicKey(f.cm.certPem);
  const signer = { privateKey: app.privateKey, certChainPem: [app.certPem] };
  const fresh = () => ({ request_time: new Date().toISOString(), nonce: randomBytes(18).toString('base64url') });
  const open = async (body: Record<string, unknown>, s = signer) => call('openReleaseSession', EncryptedRequest.fromJSON({ ...(await sealRequest(body, cmKey, s)), has_signature: true }));

  t.equal((await open({ cert: app.certPem, freshness: fresh() })).code, 'ATTESTATION_FAILED', 'no evidence: refused (attestation is required)');
  const fr = fresh();
  const other = evidenceToUal(await f.appAttester.getEvidence(sessionBinding(app.certPem, fresh().nonce)));
  t.equal((await open({ cert: app.certPem, freshness: fr, attestation_report: other })).code, 'ATTESTATION_FAILED', 'evidence bound to another nonce');
  const report = evidenceToUal(await f.appAttester.getEvidence(sessionBinding(app.certPem, fr.nonce)));
  t.ok((await open({ cert: app.certPem, freshness: fr, attestation_report: report })).resp, 'the refused attempts consumed nothing: the nonce still opens');
  t.equal((await open({ cert: app.certPem, freshness: fr, attestation_report: report })).code, 'REPLAYED', 'the same open request again: a replay');
  t.equal((await open({ cert: app.certPem, attestation_report: report })).code, 'INVALID_REQUEST', 'freshness is required to open');
  const stale = { request_time: new Date(Date.now() - 600_000).toISOString(), nonce: randomBytes(18).toString('base64url') };
  t.equal((await open({ cert: app.certPem, freshness: stale, attestation_report: evidenceToUal(await f.appAttester.getEvidence(sessionBinding(app.certPem, stale.nonce))) })).code, 'STALE_REQUEST', 'a stale open');

  const mallory = await generatePartyKeys('mallory');
  const fm = fresh();
  const stolen = evidenceToUal(await f.appAttester.getEvidence(sessionBinding(app.certPem, fm.nonce)));
  t.equal((await open({ cert: app.certPem, freshness: fm, attestation_report: stolen }, { privateKey: mallory.privateKey, certChainPem: [mallory.certPem] })).code, 'BAD_SIGNATURE', "the app's cert and evidence, signed by another key: refused");
  t.equal((await call('openReleaseSession', EncryptedRequest.fromJSON({ message: { protected: 'e30', ciphertext: '' } }))).code, 'BAD_ENVELOPE', 'garbage');

  // The session key comes sealed to the attested cert's key: only the app opens it.
  const s = await appClient.openReleaseSession(f.appAttester, { ttlSeconds: 30 });
  t.ok(s.expiresAt.getTime() <= Date.now() + 30_000, 'the app may ask for a shorter session');
  t.ok(auditLines(f).filter((l) => l.action === 'OpenReleaseSession' && l.decision === 'deny').length >= 4, 'refused opens are audited');
});

t.test('evicted and spent sessions; ReleaseSessions opens a new one; disabled sessions', async (t) => {
  const { f, app, appClient, key } = await world(t, { sessions: { maxSessions: 1, maxReleases: 3 } });
  const s1 = await appClient.openReleaseSession(f.appAttester);
  await appClient.openReleaseSession(f.appAttester);
  await t.rejects(s1.getDataKeys(rrOf(app)), { code: 'SESSION_UNKNOWN' }, 'a full table evicted the oldest session');

  const auto = appClient.releaseSessions(f.appAttester);
  t.teardown(() => auto.close());
  for (let i = 0; i < 7; i++) t.equal((await auto.getDataKeys(rrOf(app)))[0]?.data_key_b64, key, `release ${i + 1} through ReleaseSessions`);
  const opens = auditLines(f).filter((l) => l.action === 'OpenReleaseSession' && l.decision === 'allow').length;
  t.equal(opens, 2 + 3, 'seven releases at three per session took three sessions');
  // Another open evicts the auto session's: it notices SESSION_UNKNOWN and opens a new one.
  await appClient.openReleaseSession(f.appAttester);
  t.equal((await auto.getDataKeys(rrOf(app)))[0]?.data_key_b64, key, 'served after its session was evicted');

  const spent = await appClient.openReleaseSession(f.appAttester);
  for (let i = 0; i < 3; i++) await spent.getDataKeys(rrOf(app));
  await t.rejects(spent.getDataKeys(rrOf(app)), { code: 'SESSION_EXPIRED' }, 'past maxReleases');

  const off = await world(t, { sessions: { enabled: false } });
  await t.rejects(off.appClient.openReleaseSession(off.f.appAttester), { code: 'UNSUPPORTED' }, 'sessions.enabled false: UNSUPPORTED');
  t.equal((await off.appClient.getDataKeys(rrOf(off.app), off.f.appAttester)).length, 1, 'per-request releases are unaffected');
});

t.test('a CM restarted mid-session: the old session is unknown, ReleaseSessions opens a new one', async (t) => {
  const port = await freePort();
  const first = await world(t, { grpcPort: port });
  const auto = first.appClient.releaseSessions(first.f.appAttester);
  t.teardown(() => auto.close());
  t.equal((await auto.getDataKeys(rrOf(first.app)))[0]?.data_key_b64, first.key, 'served before the restart');
  const old = await first.appClient.openReleaseSession(first.f.appAttester);
  // Killed and started again on the same store, identity and port: no session survives.
  await first.f.cm.close();
  const again = await startTestCapsuleManager(t, { dir: first.f.dir, grpcPort: port });
  t.equal(again.cm.certPem, first.f.cm.certPem, 'the same CM identity');
  await t.rejects(old.getDataKeys(rrOf(first.app)), { code: 'SESSION_UNKNOWN' }, 'a session from before the restart is unknown');
  t.equal((await auto.getDataKeys(rrOf(first.app)))[0]?.data_key_b64, first.key, 'ReleaseSessions opened a new session and was served');
});
