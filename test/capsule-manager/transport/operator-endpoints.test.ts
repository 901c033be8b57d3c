// Operator endpoints of the CM's HTTP server: Prometheus /metrics counting real
// requests over gRPC, and GET /api/v1/audit/recent (contract polled by the
// control plane's status page, bounded, no key material, token rule).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { generatePartyKeys } from '../../../capsule-manager/core/party-keys.ts';
import { RecentDecisions } from '../../../capsule-manager/core/recent-decisions.ts';
import type { AuditRecord } from '../../../capsule-manager/storage/audit-log.ts';
import { startCapsuleManager } from '../../../capsule-manager/start.ts';
import { startTestCapsuleManager } from '../../helpers/capsule-manager.ts';

const [alice, app] = await Promise.all([generatePartyKeys('alice'), generatePartyKeys('app')]);
const TOKEN = 'operator-token-0123456789';

t.test('metrics and recent decisions after real requests', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-ops-'));
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  const f = await startTestCapsuleManager(t, { dir, http: { auditTokenFile: join(dir, 'token') } });
  const base = `http://127.0.0.1:${f.cm.httpPort}`;
  const A = f.client(alice);
  const APP = f.client(app);
  const k1 = randomBytes(16);
  await A.registerCert();
  await A.createDataKeys([{ resource_uri: 'd1', data_key_b64: k1.toString('base64') }, { resource_uri: 'd2', data_key_b64: randomBytes(16).toString('base64') }, { resource_uri: 'g1', data_key_b64: randomBytes(16).toString('base64') }]);
  for (const d of ['d1', 'd2']) await A.createDataPolicy({ data_uuid: d, rules: [{ rule_id: 'r', grantee_party_ids: [app.partyId], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: [] }], global_constraints: [] }] });
  await A.addDataRule('g1', { rule_id: 'g', grantee_party_ids: [app.partyId], columns: ['*'], op_constraints: [{ op_name: 'interact', constraints: [] }], global_constraints: [] });
  const rr = (over: Record<string, unknown> = {}) => ({ initiator_party_id: app.partyId, scope: '', op_name: 'PSI', resources: [{ resource_uri: 'd1', columns: [], attrs: '' }, { resource_uri: 'd2', columns: [], attrs: '' }], env: '', global_attrs: '', ...over });
  t.equal((await APP.getDataKeys(rr(), f.appAttester)).length, 2);
  await t.rejects(APP.getDataKeys(rr({ op_name: 'LR' }), f.appAttester), { code: 'POLICY_DENIED' });
  await t.rejects(APP.getDataKeys(rr()), { code: 'ATTESTATION_FAILED' });
  await APP.getTlsAsset(rr({ op_name: 'interact', resources: [{ resource_uri: 'g1', columns: [], attrs: '' }] }), f.appAttester);
  await t.rejects(APP.getTlsAsset(rr({ initiator_party_id: alice.partyId, op_name: 'interact', resources: [{ resource_uri: 'g1', columns: [], attrs: '' }] }), f.appAttester), { code: 'INITIATOR_MISMATCH' });
  const bad = await fetch(`${base}/api/v1/GetDataKeys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { protected: 'eyJ9', ciphertext: 'AAAA', iv: 'x', tag: 'y', encrypted_key: 'z' } }) });
  t.equal(bad.status, 400);

  // --- /metrics
  const text = await (await fetch(`${base}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1]);
  t.equal(value(/^aenv_capsule_manager_requests_total\{rpc="GetDataKeys",outcome="ok"\} (\d+)$/m), 1, 'GetDataKeys ok');
  t.equal(value(/^aenv_capsule_manager_requests_total\{rpc="GetDataKeys",outcome="POLICY_DENIED"\} (\d+)$/m), 1);
  t.equal(value(/^aenv_capsule_manager_requests_total\{rpc="GetDataKeys",outcome="BAD_ENVELOPE"\} (\d+)$/m), 1, 'HTTP requests are counted too');
  t.equal(value(/^aenv_capsule_manager_requests_total\{rpc="GetRaCert",outcome="ok"\} (\d+)$/m), 2, 'each client verified the CM once');
  t.equal(value(/^aenv_capsule_manager_key_releases_total\{rpc="GetDataKeys"\} (\d+)$/m), 1);
  t.equal(value(/^aenv_capsule_manager_keys_released_total\{rpc="GetDataKeys"\} (\d+)$/m), 2, 'two keys in one release');
  t.equal(value(/^aenv_capsule_manager_denials_total\{rpc="GetDataKeys"\} (\d+)$/m), 2, 'policy + attestation');
  t.equal(value(/^aenv_capsule_manager_denials_total\{rpc="GetTlsAsset"\} (\d+)$/m), 1, 'initiator mismatch');
  t.equal(value(/^aenv_capsule_manager_tls_assets_issued_total\{kind="shared"\} (\d+)$/m), 1);
  t.equal(value(/^aenv_capsule_manager_verification_failures_total\{code="ATTESTATION_FAILED"\} (\d+)$/m), 1);
  t.equal(value(/^aenv_capsule_manager_verification_failures_total\{code="BAD_ENVELOPE"\} (\d+)$/m), 1);
  t.equal(value(/^aenv_capsule_manager_request_duration_seconds_count\{rpc="GetDataKeys"\} (\d+)$/m), 4, 'every GetDataKeys timed, refused ones too');
  const expiry = value(/^aenv_capsule_manager_ra_cert_expiry_seconds (-?\d+)$/m);
  t.ok(expiry > 3600, `RA cert expires in ${expiry} s`);
  t.match(text, /^aenv_capsule_manager_process_cpu_seconds_total/m, 'process metrics under the prefix');

  // --- /api/v1/audit/recent
  const get = (q = '', token: string | null = TOKEN) => fetch(`${base}/api/v1/audit/recent${q}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  t.equal((await get('', null)).status, 401, 'token configured: required');
  const wrong = await get('', 'not-the-token-at-all');
  t.equal(wrong.status, 401);
  t.match(await wrong.json(), { code: 'UNAUTHENTICATED' });
  const res = await get('?limit=200');
  t.equal(res.status, 200);
  const raw = await res.text();
  const { records, ...rest } = JSON.parse(raw) as { records: Array<Record<string, unknown>> };
  t.same(rest, {}, 'only "records"');
  t.equal(records.length, 5, 'owner changes are not decisions: 2 allow GetDataKeys/GetTlsAsset + 3 denials');
  const allowed = ['time', 'action', 'initiator_party_id', 'resource_uri', 'decision', 'reason'];
  for (const r of records) {
    t.same(Object.keys(r).filter((k) => !allowed.includes(k)), [], 'no other fields');
    t.ok(!Number.isNaN(Date.parse(r.time as string)) && /T.*Z$/.test(r.time as string), 'ISO-8601 time');
    t.ok(r.decision === 'allow' || r.decision === 'deny');
  }
  const times = records.map((r) => Date.parse(r.time as string));
  t.same(times, [...times].sort((a, b) => b - a), 'newest first');
  t.match(records[0], { action: 'GetTlsAsset', decision: 'deny', initiator_party_id: alice.partyId, resource_uri: 'g1', reason: /not the signer's party id/ });
  t.match(records[1], { action: 'GetTlsAsset', decision: 'allow', initiator_party_id: app.partyId, resource_uri: 'g1' });
  t.notOk('reason' in records[1]!);
  t.match(records[4], { action: 'GetDataKeys', decision: 'allow', initiator_party_id: app.partyId, resource_uri: 'd1,d2' });
  t.match(records[3], { action: 'GetDataKeys', decision: 'deny', reason: /op "LR" is not allowed/ });
  t.match(records[2], { action: 'GetDataKeys', decision: 'deny', reason: /attestation_report is required/ });
  t.notOk(raw.includes(k1.toString('base64')), 'no data key');
  t.notOk(/BEGIN|PRIVATE|CERTIFICATE/.test(raw), 'no key or certificate');
  t.equal(((await (await get('?limit=2')).json()) as { records: unknown[] }).records.length, 2);
  t.equal(((await (await get()).json()) as { records: unknown[] }).records.length, 5, 'default limit 20');
  for (const q of ['?limit=0', '?limit=201', '?limit=abc', '?limit=-1', '?limit=1.5', '?other=1']) {
    const r = await get(q);
    t.equal(r.status, 400, `${q} refused`);
  }
  const r0 = await get('?limit=0');
  t.match(await r0.json(), { code: 'INVALID_REQUEST', message: /limit must be an integer from 1 to 200/ });
});

t.test('ring keeps the last N decisions, newest first', async (t) => {
  const ring = new RecentDecisions(3);
  const rec = (i: number, decision: AuditRecord['decision']): AuditRecord => ({ seq: i, ts: new Date(1_700_000_000_000 + i * 1000).toISOString(), actor: 'p', action: 'GetDataKeys', target: `d${i}`, decision, prev: '', hash: '' });
  t.same(ring.list(10), []);
  ring.add(rec(1, 'allow'));
  ring.add(rec(2, 'ok'));
  ring.add(rec(3, 'error'));
  t.same(ring.list(10).map((r) => r.resource_uri), ['d1'], 'ok/error records are not decisions');
  for (let i = 4; i <= 8; i++) ring.add(rec(i, i % 2 ? 'deny' : 'allow'));
  t.same(ring.list(10).map((r) => r.resource_uri), ['d8', 'd7', 'd6']);
  t.same(ring.list(2).map((r) => r.resource_uri), ['d8', 'd7']);
  ring.add({ ...rec(9, 'deny'), initiator: 'carol', reasons: ['x'.repeat(5000)] });
  const [top] = ring.list(1);
  t.equal(top!.initiator_party_id, 'carol', 'initiator preferred over actor');
  t.ok(top!.reason!.length <= 1025, 'reason clipped');
});

t.test('non-loopback HTTP needs http.auditTokenFile; a short token is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-ops-'));
  const cfg = (http: Record<string, unknown>) => ({ grpc: { port: 0 }, http: { port: 0, ...http }, storage: { kind: 'file', dir: join(dir, 'store') }, kek: { passphrase: 'test passphrase 123', scryptCost: 1024 }, attestation: { self: 'none' }, logLevel: 'silent' });
  await t.rejects(startCapsuleManager(cfg({ host: '0.0.0.0' })), { code: 'INSECURE_CONFIG', message: /0\.0\.0\.0 is not loopback: set http\.auditTokenFile/ });
  writeFileSync(join(dir, 'short'), 'abc', { mode: 0o600 });
  await t.rejects(startCapsuleManager(cfg({ auditTokenFile: join(dir, 'short') })), { code: 'INSECURE_CONFIG', message: /at least 16/ });
  await t.rejects(startCapsuleManager(cfg({ auditTokenFile: join(dir, 'missing') })), { code: 'INSECURE_CONFIG', message: /cannot be read/ });
  // loopback without a token: open to local operators
  const cm = await startCapsuleManager(cfg({}));
  t.teardown(() => cm.close());
  const r = await fetch(`http://127.0.0.1:${cm.httpPort}/api/v1/audit/recent`);
  t.equal(r.status, 200);
  t.same(await r.json(), { records: [] });
});
