// The HTTP JSON API serves the same operations (OpenAPI published), two CM
// replicas share state through a real nats-server, and a restarted CM keeps
// every key (and refuses a wrong KEK passphrase).
import { createPublicKey, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { grpcurlBin } from '../../../kernel/toolchain.ts';
import t from 'tap';
import { CapsuleManagerClient } from '../../../capsule-manager/client/index.ts';
import { openResponse, sealRequest } from '../../../capsule-manager/core/envelope.ts';
import { generatePartyKeys } from '../../../capsule-manager/core/party-keys.ts';
import { startCapsuleManager } from '../../../capsule-manager/start.ts';
import { startNats } from '../../helpers/nats.ts';
import { startTestCapsuleManager } from '../../helpers/capsule-manager.ts';

const alice = await generatePartyKeys('alice');
const signer = { privateKey: alice.privateKey, certChainPem: [alice.certPem] };

t.test('HTTP JSON API: OpenAPI, GetRaCert, encrypted operations, clear errors', async (t) => {
  const f = await startTestCapsuleManager(t, { audit: false });
  const base = `http://127.0.0.1:${f.cm.httpPort}`;
  const spec = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
  t.match(spec.openapi, /^3\./);
  for (const op of ['GetRaCert', 'RegisterCert', 'CreateDataKeys', 'GetDataKeys', 'GetTlsAsset', 'CreateResultDataKey', 'GetExportDataKey', 'ListDataPolicy']) t.ok(spec.paths[`/api/v1/${op}`], `${op} documented`);
  // gRPC reflection: grpcurl sees the secretflowapis service
  // async: a synchronous child would block this process's own gRPC server
  const { stdout: services } = await promisify(execFile)(grpcurlBin(), ['-plaintext', `127.0.0.1:${f.cm.grpcPort}`, 'list'], { encoding: 'utf8', timeout: 20_000 });
  t.match(services, /secretflowapis\.v2\.sdc\.capsule_manager\.CapsuleManager/);
  const ra = (await (await fetch(`${base}/api/v1/GetRaCert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce: 'abc' }) })).json()) as { cert: string; attestation_report: { str_tee_platform: string } };
  t.equal(ra.cert, f.cm.certPem);
  t.equal(ra.attestation_report.str_tee_platform, 'SIM');
  const cmKey = createPublicKey(ra.cert);
  const post = async (op: string, body: unknown) => {
    const sealed = await sealRequest(body, cmKey, signer);
    return fetch(`${base}/api/v1/${op}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: sealed.message, has_signature: true }) });
  };
  let r = await post('RegisterCert', { owner_party_id: alice.partyId, certs: [alice.certPem], scheme: 'RSA' });
  t.equal(r.status, 200);
  r = await post('CreateDataPolicy', { owner_party_id: alice.partyId, policy: { data_uuid: 'h1', rules: [{ rule_id: 'x', grantee_party_ids: ['B'], columns: ['*'], op_constraints: [{ op_name: 'PSI' }] }] } });
  t.equal(r.status, 200);
  r = await post('ListDataPolicy', { owner_party_id: alice.partyId });
  const body = (await r.json()) as { message: never; has_signature: { message: string } };
  t.equal(body.has_signature.message, 'success', 'status under its secretflowapis v2 JSON name');
  const listed = (await openResponse(body.message, alice.privateKey)) as { policies: Array<{ data_uuid: string }> };
  t.same(listed.policies.map((p) => p.data_uuid), ['h1']);
  r = await post('CreateDataKeys', { owner_party_id: 'SOMEONEELSE', data_keys: [] });
  t.equal(r.status, 403);
  t.match(await r.json(), { code: 'NOT_OWNER' });
  r = await fetch(`${base}/api/v1/GetDataKeys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { protected: 'x' } }) });
  t.equal(r.status, 400, 'schema: ciphertext missing');
  r = await fetch(`${base}/api/v1/GetDataKeys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { protected: 'eyJ9', ciphertext: 'AAAA', iv: 'x', tag: 'y', encrypted_key: 'z' } }) });
  t.equal(r.status, 400);
  t.match(await r.json(), { code: 'BAD_ENVELOPE' });
});

t.test('two CM replicas on NATS JetStream KV share keys and policies', async (t) => {
  const nats = await startNats(t);
  const storage = { kind: 'nats', nats: { servers: nats.url, bucket: 'cm_replicas' } };
  const r1 = await startTestCapsuleManager(t, { storage, audit: false });
  // replica 2 shares the identity dir (same CM key) and the KEK passphrase
  const r2 = await startTestCapsuleManager(t, { storage, audit: false, dir: r1.dir });
  t.equal(r2.cm.certPem, r1.cm.certPem);
  const c1 = new CapsuleManagerClient({ address: `127.0.0.1:${r1.cm.grpcPort}`, signer, verify: r1.verify });
  const c2 = new CapsuleManagerClient({ address: `127.0.0.1:${r2.cm.grpcPort}`, signer, verify: r2.verify });
  t.teardown(() => {
    c1.close();
    c2.close();
  });
  await c1.registerCert();
  const k = randomBytes(16);
  await c1.createDataKeys([{ resource_uri: 'n1', data_key_b64: k.toString('base64') }]);
  await c1.createDataPolicy({ data_uuid: 'n1', rules: [] });
  // concurrent rule additions through both replicas: CAS keeps all of them
  await Promise.all(
    Array.from({ length: 6 }, (_, i) => (i % 2 ? c1 : c2).addDataRule('n1', { rule_id: `r${i}`, grantee_party_ids: [alice.partyId], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: [] }], global_constraints: [] })),
  );
  const rules = (await c2.listDataPolicy()).find((p) => p.data_uuid === 'n1')!.rules.map((r) => r.rule_id).sort();
  t.same(rules, ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'], 'no lost update across replicas');
  const entries = await r1.cm.store.list('datakey');
  t.equal(entries.length, 1);
  t.notOk(entries[0]!.value.toString().includes(k.toString('base64')), 'the key in NATS is wrapped');
});

t.test('restart keeps acknowledged state; a wrong passphrase is refused', async (t) => {
  const f = await startTestCapsuleManager(t, { audit: false });
  const c = new CapsuleManagerClient({ address: `127.0.0.1:${f.cm.grpcPort}`, signer, verify: f.verify });
  await c.registerCert();
  await c.createDataPolicy({ data_uuid: 'p1', rules: [] });
  c.close();
  await f.cm.close();
  await t.rejects(
    startCapsuleManager({ grpc: { port: 0 }, http: { enabled: false }, identityDir: join(f.dir, 'identity'), storage: { kind: 'file', dir: join(f.dir, 'store') }, kek: { passphrase: 'not the right one', scryptCost: 1024 }, attestation: { self: 'none' }, logLevel: 'silent' }),
    { code: 'KEK_MISMATCH' },
  );
  const again = await startTestCapsuleManager(t, { audit: false, dir: f.dir });
  t.equal(again.cm.certPem, f.cm.certPem, 'same CM identity');
  const c2 = new CapsuleManagerClient({ address: `127.0.0.1:${again.cm.grpcPort}`, signer, verify: again.verify });
  t.teardown(() => c2.close());
  t.same((await c2.listDataPolicy()).map((p) => p.data_uuid), ['p1']);
});

t.test('config errors are reported at once', async (t) => {
  await t.rejects(startCapsuleManager({ bogus: 1, grpc: { port: -1 } }), { code: 'CONFIG_INVALID', message: /bogus[\s\S]*port|port[\s\S]*bogus/ });
});
