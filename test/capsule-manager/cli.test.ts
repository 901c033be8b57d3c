// The owner CLI against a real CM: keys, register, encrypt-file (.enc + key
// upload), policy and rules, verification of the CM, clear errors.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { main } from '../../capsule-manager/cli.ts';
import { CapsuleManagerClient } from '../../capsule-manager/transport/client.ts';
import { generatePartyKeys } from '../../capsule-manager/core/party-keys.ts';
import { decryptFile } from '../../data-capsule-proxy/core/enc-format.ts';
import { startTestCapsuleManager } from '../helpers/capsule-manager.ts';
import { captureOutput } from '../helpers/capture-output.ts';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = await captureOutput(() => main(args));
  return { code: c.value, out: c.out, err: c.err };
}

const f = await startTestCapsuleManager(t, { audit: false });
const dir = f.dir;
const app = await generatePartyKeys('app');

t.test('owner workflow through the CLI', async (t) => {
  t.equal((await run(['--help'])).code, 0);
  const g = await run(['generate-party-keys', '--out', join(dir, 'alice'), '--name', 'alice']);
  t.equal(g.code, 0, g.err);
  const gen = JSON.parse(g.out) as { party_id: string; private_key_file: string; cert_file: string };
  t.equal(statSync(gen.private_key_file).mode & 0o777, 0o600, 'private key is 0600');
  t.equal((await run(['generate-party-keys', '--out', join(dir, 'alice'), '--name', 'alice'])).code, 1, 'never overwrites a key');
  writeFileSync(join(dir, 'cm-sim.pem'), f.cm.simPublicKeyPem!);
  const src = join(dir, 'data.csv');
  const content = 'id,age\n' + Array.from({ length: 2000 }, (_, i) => `${i},${i % 90}`).join('\n');
  writeFileSync(src, content);
  const cfg = {
    host: `127.0.0.1:${f.cm.grpcPort}`,
    tee_plat: 'sim',
    sim: true,
    sim_public_key_file: join(dir, 'cm-sim.pem'),
    common: { party_id: gen.party_id, cert_pems_file: [gen.cert_file], private_key_file: gen.private_key_file, scheme: 'RSA' },
    encrypt_file: { source_file: src, dest_file: join(dir, 'data.csv.enc'), resource_uri: 'alice-data' },
    register_data_policy: { data_uuid: 'alice-data', rules: [{ rule_id: 'r1', grantee_party_ids: [app.partyId], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: [] }], global_constraints: ['r.env.tee.platform == "sim"'] }] },
    add_data_rule: { data_uuid: 'alice-data', rule: { rule_id: 'r2', grantee_party_ids: ['SOMEONE'], columns: ['id'], op_constraints: [{ op_name: 'LR' }] } },
    delete_data_rule: { data_uuid: 'alice-data', rule_id: 'r2' },
  };
  const cfgPath = join(dir, 'alice.yaml');
  writeFileSync(cfgPath, stringify(cfg));
  const vr = await run(['verify-cm', '-c', cfgPath]);
  t.equal(vr.code, 0, vr.err);
  t.match(JSON.parse(vr.out), { verified: true, platform: 'sim', insecure: true });
  t.equal((await run(['register-cert', '-c', cfgPath])).code, 0);
  const enc = await run(['encrypt-file', '-c', cfgPath]);
  t.equal(enc.code, 0, enc.err);
  t.notOk(readFileSync(join(dir, 'data.csv.enc')).includes(Buffer.from('id,age')), 'the .enc file holds no plaintext');
  t.equal((await run(['create-data-policy', '-c', cfgPath])).code, 0);
  t.equal((await run(['add-data-rule', '-c', cfgPath])).code, 0);
  let list = JSON.parse((await run(['list-data-policy', '-c', cfgPath])).out) as { policies: Array<{ rules: Array<{ rule_id: string }> }> };
  t.same(list.policies[0]!.rules.map((r) => r.rule_id), ['r1', 'r2']);
  t.equal((await run(['delete-data-rule', '-c', cfgPath])).code, 0);
  list = JSON.parse((await run(['list-data-policy', '-c', cfgPath])).out) as typeof list;
  t.same(list.policies[0]!.rules.map((r) => r.rule_id), ['r1']);
  // an attested app can now fetch the uploaded key and decrypt the file
  const c = new CapsuleManagerClient({ address: cfg.host, signer: { privateKey: app.privateKey, certChainPem: [app.certPem] }, verify: f.verify });
  t.teardown(() => c.close());
  const [k] = await c.getDataKeys({ initiator_party_id: app.partyId, scope: '', op_name: 'PSI', resources: [{ resource_uri: 'alice-data', columns: [], attrs: '' }], env: '', global_attrs: '' }, f.appAttester);
  await decryptFile(join(dir, 'data.csv.enc'), join(dir, 'data.out.csv'), Buffer.from(k!.data_key_b64, 'base64'));
  t.equal(readFileSync(join(dir, 'data.out.csv'), 'utf8'), content, 'round trip through the .enc format');

  // verification fails closed against a CM whose sim key is not trusted
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, stringify({ ...cfg, sim_public_key_file: undefined }));
  const br = await run(['register-cert', '-c', bad]);
  t.equal(br.code, 1);
  t.match(br.err, /CM_UNTRUSTED/);
  // config errors are listed at once
  writeFileSync(join(dir, 'broken.yaml'), stringify({ host: 'x', nonsense: 1, common: {} }));
  const cr = await run(['list-data-policy', '-c', join(dir, 'broken.yaml')]);
  t.equal(cr.code, 1);
  t.match(cr.err, /nonsense[\s\S]*cert_pems_file|cert_pems_file[\s\S]*nonsense/);
  t.equal((await run(['frobnicate', '-c', cfgPath])).code, 2);
});
