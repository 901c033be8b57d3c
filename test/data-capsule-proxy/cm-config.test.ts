// The proxy built from config alone (as `aenv data-capsule-proxy` runs it)
// against a real capsule manager with the sim platform: keys come from the CM
// only after it verified the app's evidence, results are registered with
// lineage, and a proxy that cannot verify the CM refuses to use it.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../foundation/logger.ts';
import { generatePartyKeys } from '../../capsule-manager/core/party-keys.ts';
import { startDataCapsuleProxy } from '../../data-capsule-proxy/start.ts';
import { decryptFile, encryptFile } from '../../data-capsule-proxy/core/enc-format.ts';
import { APP_MR, startTestCapsuleManager } from '../helpers/capsule-manager.ts';

const f = await startTestCapsuleManager(t);
const address = `127.0.0.1:${f.cm.grpcPort}`;
const [alice, carol, app] = await Promise.all([generatePartyKeys('alice'), generatePartyKeys('carol'), generatePartyKeys('carol-app')]);
const root = join(f.dir, 'dcp');
mkdirSync(root, { recursive: true });
writeFileSync(join(root, 'app.key.pem'), app.privateKeyPem, { mode: 0o600 });
writeFileSync(join(root, 'app.cert.pem'), app.certPem);
writeFileSync(join(root, 'cm-sim.pub.pem'), f.cm.simPublicKeyPem!);

const A = f.client(alice);
const key = randomBytes(16);
await A.registerCert();
await A.createDataKeys([{ resource_uri: 'alice-data', data_key_b64: key.toString('base64') }]);
await A.createDataPolicy({
  data_uuid: 'alice-data',
  rules: [{ rule_id: 'carol', grantee_party_ids: [carol.partyId], columns: ['*'], op_constraints: [{ op_name: 'psi', constraints: [`r.env.tee.sim.mr_ta == "${APP_MR}"`] }], global_constraints: [] }],
});
writeFileSync(join(root, 'in.csv'), 'id\nu1\n');
await encryptFile(join(root, 'in.csv'), join(root, 'in.csv.enc'), key);

const cmConfig = (over: Record<string, unknown> = {}) => ({
  address,
  keyFile: join(root, 'app.key.pem'),
  certFile: join(root, 'app.cert.pem'),
  initiatorPartyId: carol.partyId,
  verify: { trustedSimKeyFiles: [join(root, 'cm-sim.pub.pem')], allowInsecure: true },
  attester: { platform: 'sim', simKeyDir: join(f.dir, 'app-sim'), simMeasurements: { mr_ta: APP_MR } },
  ...over,
});

t.test('config-built CM port: attested key fetch and result registration', async (t) => {
  const dcp = await startDataCapsuleProxy({ localRoots: [root], logLevel: 'silent', capsuleManager: cmConfig() }, { logger: silentLogger });
  t.teardown(() => dcp.close());
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`http://127.0.0.1:${dcp.httpPort}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const ok = await post('/DataCapsuleProxy/GetInputData', {
    cm_resource_config: { op_name: 'psi', resource_uri: 'alice-data', columns: ['id'] },
    local_fs_config: { path: join(root, 'in.csv.enc') },
    dest_config: { path: join(root, 'plain') },
  });
  t.equal(ok.status, 200);
  t.equal(readFileSync(join(root, 'plain', 'in.csv'), 'utf8'), 'id\nu1\n', 'decrypted with the key the CM released');

  const denied = await post('/DataCapsuleProxy/GetInputData', {
    cm_resource_config: { op_name: 'train', resource_uri: 'alice-data' },
    local_fs_config: { path: join(root, 'in.csv.enc') },
    dest_config: { path: join(root, 'denied') },
  });
  t.equal(denied.status, 412);
  t.equal(denied.body.code, 'CM_FAILED');
  t.match(denied.body.message, /POLICY_DENIED.*op "train"/, 'the CM says which condition failed');

  const otherCm = await post('/DataCapsuleProxy/GetInputData', {
    cm_resource_config: { endpoint: '10.0.0.1:8888', op_name: 'psi', resource_uri: 'alice-data' },
    local_fs_config: { path: join(root, 'in.csv.enc') },
    dest_config: { path: join(root, 'other') },
  });
  t.equal(otherCm.body.code, 'CM_FAILED', 'a request cannot redirect the proxy to another CM');

  writeFileSync(join(root, 'result.csv'), 'id\nu1\n');
  const put = await post('/DataCapsuleProxy/PutResultData', {
    source_config: { path: join(root, 'result.csv') },
    local_fs_config: { path: join(root, 'result.csv.enc') },
    cm_result_config: { resource_uri: 'result-1', ancestor_uuids: ['alice-data'] },
  });
  t.equal(put.status, 200);
  // The result's derived policy grants carol op psi (inherited): fetch its key as the app would.
  const appClient = f.client(app);
  const keys = await appClient.getDataKeys({ initiator_party_id: carol.partyId, scope: '', op_name: 'psi', resources: [{ resource_uri: 'result-1', columns: [], attrs: '' }], env: '', global_attrs: '' }, f.appAttester);
  await decryptFile(join(root, 'result.csv.enc'), join(root, 'result-check.csv'), Buffer.from(keys[0]!.data_key_b64, 'base64'));
  t.equal(readFileSync(join(root, 'result-check.csv'), 'utf8'), 'id\nu1\n', 'the registered key opens the stored result');
  const dup = await post('/DataCapsuleProxy/PutResultData', {
    source_config: { path: join(root, 'result.csv') },
    local_fs_config: { path: join(root, 'result-dup.csv.enc') },
    cm_result_config: { resource_uri: 'result-2', ancestor_uuids: ['no-such-data'] },
  });
  t.equal(dup.body.code, 'CM_FAILED', 'unknown ancestors are refused by the CM');
  t.throws(() => readFileSync(join(root, 'result-dup.csv.enc')), 'the unregistered result was removed');
});

t.test('a proxy that cannot verify the CM report gets no keys', async (t) => {
  const dcp = await startDataCapsuleProxy({ localRoots: [root], logLevel: 'silent', capsuleManager: cmConfig({ verify: { trustedSimKeyFiles: [join(root, 'cm-sim.pub.pem')], allowInsecure: false } }) }, { logger: silentLogger });
  t.teardown(() => dcp.close());
  const r = await fetch(`http://127.0.0.1:${dcp.httpPort}/DataCapsuleProxy/GetInputData`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ cm_resource_config: { op_name: 'psi', resource_uri: 'alice-data' }, local_fs_config: { path: join(root, 'in.csv.enc') }, dest_config: { path: join(root, 'untrusted') } }),
  });
  const body = (await r.json()) as { code: string; message: string };
  t.equal(body.code, 'CM_FAILED');
  t.match(body.message, /CM_UNTRUSTED/);
});
