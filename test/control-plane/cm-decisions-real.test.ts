// The control plane polling the real capsule manager's GET /api/v1/audit/recent
// (bearer token, real attested GetDataKeys over gRPC): one allow and one deny
// show up in the status JSON, newest first, through capsuleManager.tokenFile.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePartyKeys } from '../../capsule-manager/core/party-keys.ts';
import { startTestCapsuleManager } from '../helpers/capsule-manager.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { startControlPlane } from '../../control-plane/start.ts';

t.test('status cmDecisions from the real capsule manager (token, allow + deny)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cp-cm-real-'));
  const token = 'operator-token-for-cp-0123456789';
  writeFileSync(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
  const f = await startTestCapsuleManager(t, { dir, http: { auditTokenFile: join(dir, 'token') } });
  const [alice, app] = await Promise.all([generatePartyKeys('alice'), generatePartyKeys('app')]);
  const A = f.client(alice);
  const APP = f.client(app);
  await A.registerCert();
  await A.createDataKeys([{ resource_uri: 'd1', data_key_b64: randomBytes(16).toString('base64') }]);
  await A.createDataPolicy({ data_uuid: 'd1', rules: [{ rule_id: 'r', grantee_party_ids: [app.partyId], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: [] }], global_constraints: [] }] });
  const rr = (op: string) => ({ initiator_party_id: app.partyId, scope: '', op_name: op, resources: [{ resource_uri: 'd1', columns: [], attrs: '' }], env: '', global_attrs: '' });
  t.equal((await APP.getDataKeys(rr('PSI'), f.appAttester)).length, 1, 'allowed release');
  await t.rejects(APP.getDataKeys(rr('LR'), f.appAttester), { code: 'POLICY_DENIED' });

  const cp = await startControlPlane(
    { id: 'cp-cm-real', capsuleManager: { decisionsUrl: `http://127.0.0.1:${f.cm.httpPort}/api/v1/audit/recent`, tokenFile: join(dir, 'token'), pollSeconds: 1, limit: 10 } },
    { logger: silentLogger },
  );
  t.teardown(() => cp.close());
  let v = cp.status().cmDecisions!;
  for (let i = 0; i < 50 && (!v.attemptedAt || v.records.length < 2); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = cp.status().cmDecisions!;
  }
  t.notOk(v.error, `no error (${v.error ?? ''})`);
  t.match(v.records, [
    { action: 'GetDataKeys', initiator_party_id: app.partyId, decision: 'deny', resource_uri: /d1/, reason: /./ },
    { action: 'GetDataKeys', initiator_party_id: app.partyId, decision: 'allow', resource_uri: /d1/ },
  ], 'newest first: the deny, then the allow');
  t.equal(v.records.length, 2, 'owner operations are not decisions');
});
