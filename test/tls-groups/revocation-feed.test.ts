// Rule change at the real CM -> RevocationFeed (owner side) -> ext-authz admin
// API -> the next check of the removed party is REVOKED; a re-grant restores it.
import t from 'tap';
import { startInteractDemo, DATA_UUID, DATA_KEY_B64 } from '../../examples/interact/interact-demo.ts';
import { startExtAuthz } from '../../ext-authz/start.ts';
import { RevocationFeed, interactGrantees } from '../../tls-groups/core/revocation-feed.ts';
import { deriveGroupCa, issueGroupTlsAsset } from '../../tls-groups/index.ts';
import { SIM_CLAIMS, EVIDENCE_DIGEST, p256 } from './fixtures.ts';
import { adminToken } from '../helpers/admin-token.ts';

t.test('interactGrantees', async (t) => {
  t.same([...interactGrantees({ rules: [
    { grantee_party_ids: ['a', 'b'], op_constraints: [{ op_name: 'interact' }] },
    { grantee_party_ids: ['c'], op_constraints: [{ op_name: 'psi' }] },
    { grantee_party_ids: ['d'], op_constraints: [{ op_name: '*' }] },
  ] })].sort(), ['a', 'b', 'd']);
  t.same([...interactGrantees(undefined)], []);
});

t.test('rule removed at the CM -> ext-authz revokes at once; re-grant restores', async (t) => {
  const demo = await startInteractDemo({ names: ['bob', 'carol'], grantees: ['bob', 'carol'] });
  t.teardown(() => demo.close());
  const dataKey = Buffer.from(DATA_KEY_B64, 'base64');
  const group = await deriveGroupCa({ dataKey, scope: 'default', dataUuid: DATA_UUID });
  const admin = adminToken(t);
  const authz = await startExtAuthz({ http: { tokenFile: admin.tokenFile }, groups: [group], policy: { rules: [{ name: 'interact', pathPrefix: '/', peers: { groups: [group.groupId] } }] } });
  t.teardown(() => authz.close());
  const api = `http://127.0.0.1:${authz.httpPort}/v1/revocations`;
  const feed = new RevocationFeed({
    dataKey,
    scope: '',
    dataUuid: DATA_UUID,
    intervalMs: 100,
    listPolicy: async () => (await demo.alice.client!.listDataPolicy()).find((p) => p.data_uuid === DATA_UUID),
    apply: async (c) => {
      for (const [method, parties] of [['POST', c.addParties], ['DELETE', c.removeParties]] as const) {
        if (!parties.length) continue;
        const r = await fetch(api, { method, headers: { 'content-type': 'application/json', ...admin.headers }, body: JSON.stringify({ parties }) });
        if (!r.ok) throw new Error(`ext-authz: HTTP ${r.status}`);
      }
    },
  });
  const carolId = demo.parties.carol!.partyId;
  const leaf = await issueGroupTlsAsset({ dataKey, scope: '', dataUuid: DATA_UUID, partyId: carolId, subjectPublicKeyPem: p256().publicKeyPem, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST });
  const check = async () => (await authz.authorizer.check({ path: '/', method: 'TCP', peerCertPem: leaf.leafCertPem })).decision.code;

  t.same(await feed.sync(), { revoked: [], restored: [] }, 'first sync learns the grants');
  t.equal(await check(), 'OK');
  t.equal(await check(), 'OK', '(now cached)');
  await demo.revoke('carol');
  t.same(await feed.sync(), { revoked: [`${group.groupId}/${carolId}`], restored: [] });
  t.equal(await check(), 'REVOKED', 'carol refused right after the rule change');
  await demo.alice.client!.addDataRule(DATA_UUID, { rule_id: 'interact-carol', grantee_party_ids: [carolId], op_constraints: [{ op_name: 'interact', constraints: [] }], columns: ['*'], global_constraints: [] });
  t.same(await feed.sync(), { revoked: [], restored: [`${group.groupId}/${carolId}`] });
  t.equal(await check(), 'OK', 're-granted');

  // Polling mode: the same change is picked up by the running feed.
  feed.start();
  t.teardown(() => feed.stop());
  const t0 = Date.now();
  await demo.revoke('carol');
  while ((await check()) !== 'REVOKED' && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
  t.equal(await check(), 'REVOKED', `running feed revoked carol in ${Date.now() - t0} ms`);
});
