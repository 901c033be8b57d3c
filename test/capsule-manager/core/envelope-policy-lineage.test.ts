import { createHash, createPublicKey } from 'node:crypto';
import t from 'tap';
import { decryptJwe, encryptJwe, openRequest, sealRequest } from '../../../capsule-manager/core/envelope.ts';
import { base32NoPad, partyIdOfCert } from '../../../capsule-manager/core/party-id.ts';
import { generatePartyKeys } from '../../../capsule-manager/core/party-keys.ts';
import { evaluatePolicy, type RequestView } from '../../../capsule-manager/core/policy-evaluation.ts';
import { deriveResultPolicy, originalOwners } from '../../../capsule-manager/core/lineage.ts';
import { normalizePolicy, parseResourceUri } from '../../../capsule-manager/core/model.ts';
import { CompactEncrypt, FlattenedEncrypt } from 'jose';

t.test('party id is base32(SHA-256(SPKI)) without padding', async (t) => {
  t.equal(base32NoPad(Buffer.from('foobar')), 'MZXW6YTBOI'); // RFC 4648 test vector, unpadded
  const p = await generatePartyKeys('alice');
  const spki = createPublicKey(p.privateKey).export({ type: 'spki', format: 'der' });
  t.equal(p.partyId, base32NoPad(createHash('sha256').update(spki).digest()));
  t.equal(partyIdOfCert(p.certPem), p.partyId);
  t.equal(p.partyId.length, 52);
});

t.test('envelope: JWE over JWS with x5c round-trips; tampering and wrong keys fail', async (t) => {
  const cm = await generatePartyKeys('cm');
  const alice = await generatePartyKeys('alice');
  const cmPub = createPublicKey(cm.privateKey);
  const env = await sealRequest({ owner_party_id: alice.partyId, scope: 'x' }, cmPub, { privateKey: alice.privateKey, certChainPem: [alice.certPem] });
  t.equal(env.has_signature, true);
  t.match(JSON.parse(Buffer.from(env.message.protected, 'base64url').toString()), { alg: 'RSA-OAEP-256', enc: 'A128GCM' });
  const opened = await openRequest(env.message, true, cm.privateKey);
  t.same(opened.request, { owner_party_id: alice.partyId, scope: 'x' });
  t.equal(opened.signer!.partyId, alice.partyId);
  // unsigned form
  const plain = await sealRequest({ a: 1 }, cmPub);
  t.same((await openRequest(plain.message, false, cm.privateKey)).request, { a: 1 });
  await t.rejects(openRequest(plain.message, true, cm.privateKey), { code: 'BAD_ENVELOPE' }, 'claims a signature it lacks');
  // wrong recipient
  await t.rejects(openRequest(env.message, true, alice.privateKey), { code: 'BAD_ENVELOPE' });
  // tampered ciphertext
  const bad = { ...env.message, ciphertext: env.message.ciphertext.slice(0, -4) + (env.message.ciphertext.endsWith('AAAA') ? 'BBBB' : 'AAAA') };
  await t.rejects(openRequest(bad, true, cm.privateKey), { code: 'BAD_ENVELOPE' });
  // RSA-OAEP (SHA-1) is accepted too, as Trustflow's older clients use it
  const oaep1 = await encryptJwe(Buffer.from('{"x":1}'), cmPub, 'RSA-OAEP', 'A256GCM');
  t.equal(Buffer.from(await decryptJwe(oaep1, cm.privateKey)).toString(), '{"x":1}');
  // RSA1_5 is refused
  const rsa15 = await new FlattenedEncrypt(Buffer.from('{}')).setProtectedHeader({ alg: 'RSA1_5', enc: 'A128GCM' }).encrypt(cmPub).catch(() => undefined);
  if (rsa15) await t.rejects(decryptJwe({ ...rsa15, aad: '' } as never, cm.privateKey), { code: 'BAD_ENVELOPE' });
  t.ok(CompactEncrypt);
  // a signature by a key other than x5c[0]
  const mallory = await generatePartyKeys('mallory');
  const forged = await sealRequest({ a: 1 }, cmPub, { privateKey: mallory.privateKey, certChainPem: [alice.certPem] });
  await t.rejects(openRequest(forged.message, true, cm.privateKey), { code: 'BAD_SIGNATURE' });
});

const view = (over: Partial<RequestView> = {}): RequestView => ({
  resource_uri: 'd1',
  columns: ['a'],
  initiator_party_id: 'BOB',
  scope: 'default',
  op_name: 'PSI',
  env: { request_time: '2026-01-01T00:00:00Z', tee: { platform: 'sim', sim: { mr_ta: 'aa' } } },
  attrs: {},
  global_attrs: {},
  ...over,
});

t.test('policy evaluation: any rule, grantees, ops, columns, constraints, bounded reasons', async (t) => {
  const policy = normalizePolicy({
    data_uuid: 'd1',
    rules: [
      { rule_id: 'r1', grantee_party_ids: ['BOB'], columns: ['a', 'b'], op_constraints: [{ op_name: 'PSI', constraints: ['r.env.tee.platform == "tdx"'] }], global_constraints: [] },
      { rule_id: 'r2', grantee_party_ids: ['CAROL', 'DAVE'], columns: ['*'], op_constraints: [{ op_name: '*', constraints: [] }], global_constraints: ['r.scope == "secret-scope"'] },
    ],
  });
  const d = evaluatePolicy(policy, view());
  t.equal(d.allowed, false);
  t.match(d.reasons.join('\n'), /rule r1: op constraint \(PSI\) "r\.env\.tee\.platform == \\"tdx\\"" is false/);
  t.notMatch(d.reasons.join('\n'), /r2|CAROL|DAVE|secret-scope/, 'nothing of a rule that does not name the initiator leaks, not even its id');
  t.same(evaluatePolicy(policy, view({ initiator_party_id: 'EVE' })).reasons, ['initiator is not a grantee of any rule']);
  t.same(evaluatePolicy(policy, view({ env: { request_time: '', tee: { platform: 'tdx' } } })), { allowed: true, ruleId: 'r1', reasons: [] });
  t.match(evaluatePolicy(policy, view({ columns: ['z'] })).reasons[0], /columns not granted: "z"/);
  t.match(evaluatePolicy(policy, view({ op_name: 'LR' })).reasons[0], /op "LR" is not allowed/);
  t.equal(evaluatePolicy(policy, view({ initiator_party_id: 'CAROL', scope: 'secret-scope', columns: ['q'], op_name: 'X' })).allowed, true);
  t.equal(evaluatePolicy(undefined, view()).allowed, false);
  t.throws(() => normalizePolicy({ data_uuid: 'd1', rules: [{ rule_id: 'x', grantee_party_ids: [], columns: [], op_constraints: [], global_constraints: ['r.a ==='] }] }), { code: 'INVALID_EXPRESSION' });
  t.throws(() => parseResourceUri('a/../b'), { code: 'INVALID_REQUEST' });
  t.throws(() => parseResourceUri('a/b/c/d/e'), { code: 'INVALID_REQUEST' });
  t.same(parseResourceUri('u1/p/s').segments, ['u1', 'p', 's']);
});

t.test('lineage: grantees and ops intersected, constraints unioned, owners through ancestors', async (t) => {
  const a = normalizePolicy({ data_uuid: 'a', rules: [{ rule_id: '1', grantee_party_ids: ['BOB', 'CAROL'], columns: ['x'], op_constraints: [{ op_name: 'PSI', constraints: ['r.attrs.k == 1'] }, { op_name: 'LR', constraints: [] }], global_constraints: ['r.env.tee.platform == "tdx"'] }] });
  const b = normalizePolicy({ data_uuid: 'b', rules: [{ rule_id: '2', grantee_party_ids: ['BOB'], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: ['r.attrs.j == 2'] }], global_constraints: ['r.scope == "s"'] }] });
  const p = deriveResultPolicy('res', [a, b]);
  t.same(p.rules[0]!.grantee_party_ids, ['BOB']);
  t.same(p.rules[0]!.op_constraints, [{ op_name: 'PSI', constraints: ['r.attrs.k == 1', 'r.attrs.j == 2'] }]);
  t.same(p.rules[0]!.global_constraints, ['r.env.tee.platform == "tdx"', 'r.scope == "s"']);
  t.same(p.rules[0]!.columns, ['*']);
  const star = normalizePolicy({ data_uuid: 'c', rules: [{ rule_id: '3', grantee_party_ids: ['BOB'], columns: ['*'], op_constraints: [{ op_name: '*', constraints: [] }], global_constraints: [] }] });
  t.same(deriveResultPolicy('r', [a, star]).rules[0]!.op_constraints.map((o) => o.op_name).sort(), ['LR', 'PSI']);
  t.same(deriveResultPolicy('r', [a, normalizePolicy({ data_uuid: 'z', rules: [] })]).rules, [], 'no common grantee: nobody');
  const graph: Record<string, { owner_party_id: string; ancestor_uuids?: string[] }> = {
    a: { owner_party_id: 'ALICE' },
    b: { owner_party_id: 'BOB' },
    r1: { owner_party_id: 'CM', ancestor_uuids: ['a', 'b'] },
    r2: { owner_party_id: 'CM', ancestor_uuids: ['r1', 'r2', 'gone'] },
  };
  t.same(await originalOwners('r2', async (u) => graph[u]), { owners: ['ALICE', 'BOB'], missing: ['gone'] });
});

t.test('export votes: exact action, requester, expiry, malformed certificates', async (t) => {
  const { checkExportVotes, signVote, exportAction } = await import('../../../capsule-manager/core/export-votes.ts');
  const alice = await generatePartyKeys('alice');
  const s = { privateKey: alice.privateKey, certChainPem: [alice.certPem] };
  const base = { type: 'TEE_DOWNLOAD' as const, request_party_id: 'BOB', approved_action: exportAction('res'), action: 'APPROVE' as const };
  const opts = { owners: [alice.partyId], requestPartyId: 'BOB', resourceUri: 'res' };
  t.same(await checkExportVotes(JSON.stringify({ votes: [await signVote(base, s)] }), opts), { allowed: true, reasons: [] });
  t.equal((await checkExportVotes(JSON.stringify({ votes: [await signVote({ ...base, approved_action: exportAction('other') }, s)] }), opts)).allowed, false);
  t.equal((await checkExportVotes(JSON.stringify({ votes: [await signVote({ ...base, exp: Math.floor(Date.now() / 1000) - 10 }, s)] }), opts)).allowed, false, 'expired');
  t.equal((await checkExportVotes(JSON.stringify({ votes: [await signVote({ ...base, exp: Math.floor(Date.now() / 1000) + 600 }, s)] }), opts)).allowed, true, 'not yet expired');
  const v = await signVote(base, s);
  const tampered = v.split('.');
  tampered[1] = Buffer.from(JSON.stringify({ ...base, request_party_id: 'MALLORY' })).toString('base64url');
  t.match(await checkExportVotes(JSON.stringify({ votes: [tampered.join('.')] }), { ...opts, requestPartyId: 'MALLORY' }), { allowed: false, reasons: [/vote 0: JWS signature does not verify/, /no approval/] });
  await t.rejects(checkExportVotes('not json', opts), { code: 'INVALID_REQUEST' });
  await t.rejects(checkExportVotes(JSON.stringify({ votes: 'x' }), opts), { code: 'INVALID_REQUEST' });
});
