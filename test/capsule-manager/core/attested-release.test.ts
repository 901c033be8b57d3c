// End to end over real gRPC with the real sim platform: owners register and
// set policies, an attested app gets keys, denials say why, spoofing fails.
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { agreementKeysOfCert, createAttester } from '../../../platforms/index.ts';
import type { Attester } from '../../../platforms/core/types.ts';
import { CapsuleManagerClient, exportAction, signVote } from '../../../capsule-manager/transport/client.ts';
import { generatePartyKeys, type PartyKeys } from '../../../capsule-manager/core/party-keys.ts';
import { verifyAuditLog } from '../../../capsule-manager/storage/audit-log.ts';
import { APP_MR, startTestCapsuleManager } from '../../helpers/capsule-manager.ts';

const f = await startTestCapsuleManager(t);
const address = `127.0.0.1:${f.cm.grpcPort}`;
const [alice, bob, app, mallory] = await Promise.all([generatePartyKeys('alice'), generatePartyKeys('bob'), generatePartyKeys('app'), generatePartyKeys('mallory')]);
const A = f.client(alice);
const B = f.client(bob);
const APP = f.client(app);
const M = f.client(mallory);
const k1 = randomBytes(16);
const k2 = randomBytes(32);
const kg = randomBytes(16);

t.test('client verifies the CM report; an untrusted CM is refused', async (t) => {
  const out = await A.connect();
  t.equal(out.certPem, f.cm.certPem);
  t.equal(out.claims!.platform, 'sim');
  const other = await createAttester('sim', {});
  const bad = new CapsuleManagerClient({ address, signer: { privateKey: alice.privateKey, certChainPem: [alice.certPem] }, verify: { trustedSimKeys: [other.simPublicKeyPem!], policy: { allowInsecure: true } } });
  await t.rejects(bad.connect(), { code: 'CM_UNTRUSTED' });
  const noSim = new CapsuleManagerClient({ address, signer: { privateKey: alice.privateKey, certChainPem: [alice.certPem] }, verify: { trustedSimKeys: [f.cm.simPublicKeyPem!], policy: {} } });
  await t.rejects(noSim.connect(), { code: 'CM_UNTRUSTED', message: /insecure|sim/i }, 'sim evidence needs allowInsecure');
  bad.close();
  noSim.close();
});

t.test('owners register, upload keys and set policies; others cannot touch them', async (t) => {
  await t.rejects(A.createDataKeys([{ resource_uri: 'd1', data_key_b64: k1.toString('base64') }]), { code: 'UNKNOWN_PARTY' });
  await t.rejects(A.registerCert([bob.certPem]), { code: 'NOT_OWNER' }, 'cannot register another party\'s certificate');
  await t.rejects(A.registerCert(['not a cert']), { code: 'INVALID_CERT' });
  await t.rejects(A.registerCert([alice.certPem, bob.certPem]), { code: 'INVALID_CERT' }, 'broken chain');
  await A.registerCert();
  await B.registerCert();
  await M.registerCert();
  await A.createDataKeys([{ resource_uri: 'd1', data_key_b64: k1.toString('base64') }, { resource_uri: 'g1', data_key_b64: kg.toString('base64') }]);
  await B.createDataKeys([{ resource_uri: 'd2/part0', data_key_b64: k2.toString('base64') }]);
  await t.rejects(A.createDataKeys([{ resource_uri: 'd3', data_key_b64: 'c2hvcnQ=' }]), { code: 'INVALID_REQUEST', message: /16, 24 or 32/ });
  // all or nothing: a batch with one existing key writes none of the others
  await t.rejects(A.createDataKeys([{ resource_uri: 'd4', data_key_b64: k1.toString('base64') }, { resource_uri: 'd1', data_key_b64: k1.toString('base64') }]), { code: 'ALREADY_EXISTS' });
  await A.createDataKeys([{ resource_uri: 'd4', data_key_b64: k1.toString('base64') }]);
  await A.deleteDataKey('d4');
  await A.createDataPolicy({
    data_uuid: 'd1',
    rules: [
      {
        rule_id: 'bob-psi',
        grantee_party_ids: [bob.partyId],
        columns: ['id', 'age'],
        op_constraints: [{ op_name: 'PSI', constraints: [`r.env.tee.sim.mr_ta == "${APP_MR}"`] }],
        global_constraints: ['r.env.tee.platform == "sim"'],
      },
    ],
  });
  await A.addDataRule('g1', { rule_id: 'group', grantee_party_ids: [bob.partyId, app.partyId], columns: ['*'], op_constraints: [{ op_name: 'interact', constraints: [] }], global_constraints: [] });
  await B.createDataPolicy({ data_uuid: 'd2', rules: [{ rule_id: 'b', grantee_party_ids: [bob.partyId, alice.partyId], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: [] }, { op_name: 'LR', constraints: [] }], global_constraints: [] }] });
  t.same((await A.listDataPolicy()).map((p) => p.data_uuid).sort(), ['d1', 'g1']);
  await t.rejects(M.addDataRule('d1', { rule_id: 'evil', grantee_party_ids: [mallory.partyId], columns: ['*'], op_constraints: [{ op_name: '*', constraints: [] }], global_constraints: [] }), { code: 'NOT_OWNER' });
  await t.rejects(M.createDataKeys([{ resource_uri: 'd1/evil', data_key_b64: k1.toString('base64') }]), { code: 'NOT_OWNER' });
  await t.rejects(M.deleteDataPolicy('d1'), { code: 'NOT_OWNER' });
  t.same(await M.listDataPolicy(), []);
  await t.rejects(A.addDataRule('d1', { rule_id: 'x', grantee_party_ids: [], columns: [], op_constraints: [], global_constraints: ['r.a ==='] }), { code: 'INVALID_EXPRESSION' });
  // add then delete a rule
  await A.addDataRule('d1', { rule_id: 'tmp', grantee_party_ids: [mallory.partyId], columns: ['*'], op_constraints: [{ op_name: '*', constraints: [] }], global_constraints: [] });
  await t.rejects(A.addDataRule('d1', { rule_id: 'tmp', grantee_party_ids: [], columns: [], op_constraints: [], global_constraints: [] }), { code: 'ALREADY_EXISTS' });
  await A.deleteDataRule('d1', 'tmp');
  t.same((await A.listDataPolicy()).find((p) => p.data_uuid === 'd1')!.rules.map((r) => r.rule_id), ['bob-psi']);
});

const req = (over: Record<string, unknown> = {}) => ({ initiator_party_id: bob.partyId, scope: '', op_name: 'PSI', resources: [{ resource_uri: 'd1', columns: ['id'], attrs: '' }], env: '', global_attrs: '', ...over });

t.test('attested GetDataKeys releases keys encrypted to the attested cert', async (t) => {
  const keys = await APP.getDataKeys(req(), f.appAttester);
  t.same(keys, [{ resource_uri: 'd1', data_key_b64: k1.toString('base64') }]);
  const two = await APP.getDataKeys(req({ resources: [{ resource_uri: 'd1', columns: [], attrs: '' }, { resource_uri: 'd2/part0', columns: [], attrs: '' }] }), f.appAttester);
  t.equal(two.length, 2);
  t.equal(two[1]!.data_key_b64, k2.toString('base64'));
});

t.test('envelope ecdh-es: requests sealed to the X25519 key the attested CM cert names', async (t) => {
  const named = agreementKeysOfCert(f.cm.certPem);
  t.ok(named.x25519 && named.p256, 'the CM certificate names its X25519 and P-256 keys');
  const fast = new CapsuleManagerClient({ address, signer: { privateKey: app.privateKey, certChainPem: [app.certPem] }, verify: f.verify, envelope: 'ecdh-es' });
  t.teardown(() => fast.close());
  t.same(await fast.getDataKeys(req(), f.appAttester), [{ resource_uri: 'd1', data_key_b64: k1.toString('base64') }]);
  await t.rejects(fast.getDataKeys(req({ op_name: 'LR' }), f.appAttester), { code: 'POLICY_DENIED' }, 'the same policy applies');
  // A CM certificate without the key set (an older CM, pinned here): ecdh-es is refused at connect.
  const old = await generatePartyKeys('old cm');
  const pinnedOld = new CapsuleManagerClient({ address, signer: { privateKey: app.privateKey, certChainPem: [app.certPem] }, verify: { pinnedCertPem: old.certPem }, envelope: 'ecdh-es' });
  t.teardown(() => pinnedOld.close());
  await t.rejects(pinnedOld.connect(), { code: 'CM_UNTRUSTED' }, 'a pinned cert that is not the CM\'s is refused first');
  t.same(agreementKeysOfCert(old.certPem), {}, 'a certificate without the extension names no agreement key');
});

t.test('denials say which condition failed, and only what the requester may know', async (t) => {
  await t.rejects(APP.getDataKeys(req({ op_name: 'LR' }), f.appAttester), { code: 'POLICY_DENIED', message: /rule bob-psi: op "LR" is not allowed/ });
  await t.rejects(APP.getDataKeys(req({ resources: [{ resource_uri: 'd1', columns: ['salary'], attrs: '' }] }), f.appAttester), { code: 'POLICY_DENIED', message: /columns not granted: "salary"/ });
  const e = await APP.getDataKeys(req({ initiator_party_id: mallory.partyId }), f.appAttester).catch((x: Error) => x);
  t.match(e, { code: 'POLICY_DENIED', message: /initiator is not a grantee/ });
  t.notMatch((e as Error).message, new RegExp(`${bob.partyId}|mr_ta|PSI`), 'no grantee ids or constraints of rules that do not name the requester');
  await t.rejects(APP.getDataKeys(req({ resources: [{ resource_uri: 'nope', columns: [], attrs: '' }] }), f.appAttester), { code: 'POLICY_DENIED', message: /no data key/ });
});

t.test('env.tee comes from verified evidence only; evidence must bind this request', async (t) => {
  // an app with another measurement fails the mr_ta constraint, whatever env says
  const other = await createAttester('sim', { simKeyDir: join(f.dir, 'app-sim'), simMeasurements: { mr_ta: 'b2'.repeat(32) } });
  const spoof = req({ env: JSON.stringify({ tee: { platform: 'sim', sim: { mr_ta: APP_MR } } }) });
  await t.rejects(APP.getDataKeys(spoof, other), { code: 'POLICY_DENIED', message: /mr_ta .* is false/ });
  await t.rejects(APP.getDataKeys(req()), { code: 'ATTESTATION_FAILED', message: /required/ }, 'no report');
  // evidence bound to a different request is refused (replay)
  const replaying: Attester = { platform: 'sim', detect: async () => true, getEvidence: async () => f.appAttester.getEvidence(Buffer.alloc(32, 7)) };
  await t.rejects(APP.getDataKeys(req(), replaying), { code: 'ATTESTATION_FAILED', message: /report ?data/i });
  // evidence signed by an untrusted sim key
  const rogue = await createAttester('sim', { simMeasurements: { mr_ta: APP_MR } });
  await t.rejects(APP.getDataKeys(req(), rogue), { code: 'ATTESTATION_FAILED' });
});

t.test('GetTlsAsset: group asset for op interact, encrypted to the attested cert', async (t) => {
  const tls = (over: Record<string, unknown> = {}) => req({ initiator_party_id: app.partyId, op_name: 'interact', resources: [{ resource_uri: 'g1', columns: [], attrs: '' }], ...over });
  const asset = await APP.getTlsAsset(tls(), f.appAttester);
  t.match(asset.private_key, /BEGIN PRIVATE KEY/);
  const leaf = new X509Certificate(asset.cert);
  t.ok(leaf.verify(new X509Certificate(asset.ca_cert).publicKey), 'leaf signed by the group CA');
  const again = await APP.getTlsAsset(tls(), f.appAttester);
  t.equal(again.ca_cert, asset.ca_cert, 'deterministic group CA');
  await t.rejects(APP.getTlsAsset(tls({ resources: [{ resource_uri: 'd1', columns: [], attrs: '' }] }), f.appAttester), { code: 'POLICY_DENIED' });
  // the app's own key certified (bound through the request in its evidence): no private key travels
  const own = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = own.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const leafOnly = await APP.getTlsAsset(tls({ global_attrs: JSON.stringify({ subject_public_key_pem: pem }) }), f.appAttester);
  t.equal(leafOnly.private_key, '');
  const l2 = new X509Certificate(leafOnly.cert);
  t.ok(l2.publicKey.equals(own.publicKey), 'leaf certifies the app key');
  t.ok(l2.verify(new X509Certificate(leafOnly.ca_cert).publicKey));
  t.equal(leafOnly.ca_cert, asset.ca_cert, 'same group CA');
  t.match(l2.subjectAltName, app.partyId, 'the leaf names the signer');
});

t.test('GetTlsAsset: the certified party is the signer; validity_seconds is bounded', async (t) => {
  const tls = (over: Record<string, unknown> = {}) => req({ initiator_party_id: app.partyId, op_name: 'interact', resources: [{ resource_uri: 'g1', columns: [], attrs: '' }], ...over });
  const own = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = own.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  // bob is a grantee of g1, but the app signs: it cannot get a leaf naming bob
  const e = await APP.getTlsAsset(tls({ initiator_party_id: bob.partyId, global_attrs: JSON.stringify({ subject_public_key_pem: pem }) }), f.appAttester).catch((x: Error) => x);
  t.match(e, { code: 'INITIATOR_MISMATCH', message: new RegExp(`initiator_party_id ${bob.partyId} is not the signer's party id ${app.partyId}`) });
  await t.rejects(APP.getTlsAsset(tls({ initiator_party_id: bob.partyId }), f.appAttester), { code: 'INITIATOR_MISMATCH' }, 'the shared form too');
  // bob himself (his own key signs and is the attested cert) gets his leaf
  const mine = await B.getTlsAsset(tls({ initiator_party_id: bob.partyId, global_attrs: JSON.stringify({ subject_public_key_pem: pem }) }), f.appAttester);
  t.match(new X509Certificate(mine.cert).subjectAltName, bob.partyId);
  // validity_seconds: passed through, bounded 60 s .. 24 h, leaf only
  const short = await APP.getTlsAsset(tls({ global_attrs: JSON.stringify({ subject_public_key_pem: pem, validity_seconds: 120 }) }), f.appAttester);
  const c = new X509Certificate(short.cert);
  const life = (Date.parse(c.validTo) - Date.now()) / 1000;
  t.ok(life > 0 && life <= 120 + 5, `leaf lives ~120 s (${Math.round(life)} s left)`);
  for (const v of [59, 86401, 1.5, '600']) {
    await t.rejects(APP.getTlsAsset(tls({ global_attrs: JSON.stringify({ subject_public_key_pem: pem, validity_seconds: v }) }), f.appAttester), { code: 'INVALID_REQUEST', message: /validity_seconds must be an integer from 60 to 86400/ }, `validity ${v} refused`);
  }
  await t.rejects(APP.getTlsAsset(tls({ global_attrs: JSON.stringify({ validity_seconds: 600 }) }), f.appAttester), { code: 'INVALID_REQUEST', message: /certified leaf only/ });
  // the refusal is an audited decision
  const d = f.cm.recent.list(200).find((r) => r.action === 'GetTlsAsset' && r.decision === 'deny' && r.initiator_party_id === bob.partyId);
  t.match(d, { resource_uri: 'g1', reason: /not the signer's party id/ });
});

t.test('lineage: result policy derived, export needs every original owner', async (t) => {
  const kr = randomBytes(16);
  await APP.createResultDataKey({ resource_uri: 'res1', scope: '', data_key_b64: kr.toString('base64'), ancestor_uuids: ['d1', 'd2'], owner_id: bob.partyId }, f.appAttester);
  await t.rejects(APP.createResultDataKey({ resource_uri: 'res2', data_key_b64: kr.toString('base64'), ancestor_uuids: ['d1'] }), { code: 'ATTESTATION_FAILED' });
  await t.rejects(APP.createResultDataKey({ resource_uri: 'res3', data_key_b64: kr.toString('base64'), ancestor_uuids: ['unknown'] }, f.appAttester), { code: 'NOT_FOUND' });
  // bob is a grantee of both ancestors for PSI: he may use the result under the merged constraints
  const keys = await APP.getDataKeys(req({ resources: [{ resource_uri: 'res1', columns: ['anything'], attrs: '' }] }), f.appAttester);
  t.equal(keys[0]!.data_key_b64, kr.toString('base64'));
  // LR was only allowed on d2: the intersection drops it
  await t.rejects(APP.getDataKeys(req({ op_name: 'LR', resources: [{ resource_uri: 'res1', columns: [], attrs: '' }] }), f.appAttester), { code: 'POLICY_DENIED' });
  // export: votes of both original owners (alice via d1, bob via d2)
  const vote = (p: PartyKeys, action: 'APPROVE' | 'REJECT' = 'APPROVE') =>
    signVote({ type: 'TEE_DOWNLOAD', request_party_id: bob.partyId, approved_action: exportAction('res1'), action }, { privateKey: p.privateKey, certChainPem: [p.certPem] });
  await t.rejects(B.getExportDataKey('res1', JSON.stringify({ votes: [await vote(bob)] })), { code: 'EXPORT_DENIED', message: new RegExp(`no approval from owner\\(s\\): ${alice.partyId}`) });
  await t.rejects(B.getExportDataKey('res1', JSON.stringify({ votes: [await vote(bob), await vote(alice, 'REJECT')] })), { code: 'EXPORT_DENIED', message: /rejected/ });
  await t.rejects(B.getExportDataKey('res1', JSON.stringify({ votes: [await vote(bob), await vote(mallory)] })), { code: 'EXPORT_DENIED' }, 'a non-owner vote does not count');
  const dk = await B.getExportDataKey('res1', JSON.stringify({ votes: [await vote(bob), await vote(alice)] }));
  t.equal(dk.data_key_b64, kr.toString('base64'));
  await t.rejects(M.getExportDataKey('res1', JSON.stringify({ votes: [await vote(bob), await vote(alice)] })), { code: 'EXPORT_DENIED' }, 'votes name the requester');
});

t.test('delete key and policy; audit log is a valid chain without key material', async (t) => {
  await A.deleteDataKey('g1');
  await t.rejects(A.deleteDataKey('g1'), { code: 'NOT_FOUND' });
  await A.deleteDataPolicy('g1');
  const path = join(f.dir, 'audit.log');
  const v = verifyAuditLog(path);
  t.ok(v.ok, 'hash chain verifies');
  const text = readFileSync(path, 'utf8');
  t.match(text, /"action":"GetDataKeys".*"decision":"allow"/);
  t.match(text, /"action":"GetDataKeys".*"decision":"deny"/);
  t.match(text, /"action":"AddDataRule"/);
  t.match(text, /"action":"GetExportDataKey".*"decision":"allow"/);
  for (const k of [k1, k2, kg]) t.notOk(text.includes(k.toString('base64')), 'no data key in the audit log');
  const lines = text.trim().split('\n');
  const at = lines.findIndex((l) => l.includes('"decision":"ok"'));
  t.ok(at >= 0);
  const edited = lines.map((l, i) => (i === at ? l.replace('"decision":"ok"', '"decision":"deny"') : l)).join('\n') + '\n';
  const { writeFileSync } = await import('node:fs');
  writeFileSync(path + '.edited', edited);
  t.notOk(verifyAuditLog(path + '.edited').ok, 'an edited line breaks the chain');
  writeFileSync(path + '.cut', lines.filter((_, i) => i !== at).join('\n') + '\n');
  t.notOk(verifyAuditLog(path + '.cut').ok, 'a removed line breaks the chain');
});
