// Two CM replicas share state through a real nats-server, and a restarted CM
// keeps every key (and refuses a wrong KEK passphrase).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CapsuleManagerClient } from '../../capsule-manager/transport/client.ts';
import { generatePartyKeys } from '../../capsule-manager/core/party-keys.ts';
import { startCapsuleManager } from '../../capsule-manager/start.ts';
import { startNats } from '../helpers/nats.ts';
import { startTestCapsuleManager } from '../helpers/capsule-manager.ts';

const alice = await generatePartyKeys('alice');
const signer = { privateKey: alice.privateKey, certChainPem: [alice.certPem] };

/** A bare CM (no HTTP, no attester) on the file store and identity of a fixture's `dir`, with `kek`. */
const startOnStore = (dir: string, kek: Record<string, unknown>) =>
  startCapsuleManager({ grpc: { port: 0 }, http: { enabled: false }, identityDir: join(dir, 'identity'), storage: { kind: 'file', dir: join(dir, 'store') }, kek, attestation: { self: 'none' }, logLevel: 'silent' });

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

t.test('a revocation on replica A holds at once for a release session on replica B (the read mirror behind its barrier)', async (t) => {
  const nats = await startNats(t);
  const storage = { kind: 'nats', nats: { servers: nats.url, bucket: 'cm_revoke' } };
  const a = await startTestCapsuleManager(t, { storage, audit: false });
  const b = await startTestCapsuleManager(t, { storage, audit: false, dir: a.dir });
  const app = await generatePartyKeys('app');
  const owner = a.client(alice);
  t.teardown(() => owner.close());
  await owner.registerCert();
  await owner.createDataKeys([{ resource_uri: 'rv', data_key_b64: randomBytes(16).toString('base64') }]);
  const rule = { rule_id: 'r', grantee_party_ids: [app.partyId], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: [] }], global_constraints: [] };
  await owner.createDataPolicy({ data_uuid: 'rv', rules: [rule] });
  const appOnB = b.client(app);
  t.teardown(() => appOnB.close());
  const session = await appOnB.openReleaseSession(b.appAttester);
  const rr = { initiator_party_id: app.partyId, scope: '', op_name: 'PSI', resources: [{ resource_uri: 'rv', columns: ['c'], attrs: '' }], env: '', global_attrs: '' };
  t.equal((await session.getDataKeys(rr)).length, 1, 'B releases while the rule stands');
  for (let i = 0; i < 5; i++) {
    await owner.deleteDataRule('rv', 'r');
    await t.rejects(session.getDataKeys(rr), { code: 'POLICY_DENIED' }, `round ${i}: the rule deleted on A, B's next release is denied (no wait)`);
    await owner.addDataRule('rv', rule);
    t.equal((await session.getDataKeys(rr)).length, 1, `round ${i}: the rule added back on A, B releases at once`);
  }
  await owner.deleteDataKey('rv');
  await t.rejects(session.getDataKeys(rr), { code: 'POLICY_DENIED' }, 'the key deleted on A: B has nothing to release');
  const stats = (b.cm.store as import('../../capsule-manager/storage/nats-store.ts').NatsStore).cache!.stats();
  t.equal(stats.state, 'current');
  t.equal(stats.bypassed, 0, 'every read on B was served by its mirror, none by falling back');
});

t.test('restart keeps acknowledged state; a wrong passphrase is refused', async (t) => {
  const f = await startTestCapsuleManager(t, { audit: false });
  const c = new CapsuleManagerClient({ address: `127.0.0.1:${f.cm.grpcPort}`, signer, verify: f.verify });
  await c.registerCert();
  await c.createDataPolicy({ data_uuid: 'p1', rules: [] });
  c.close();
  await f.cm.close();
  await t.rejects(
    startOnStore(f.dir, { passphrase: 'not the right one', scryptCost: 1024 }),
    { code: 'KEK_MISMATCH' },
  );
  const again = await startTestCapsuleManager(t, { audit: false, dir: f.dir });
  t.equal(again.cm.certPem, f.cm.certPem, 'same CM identity');
  const c2 = new CapsuleManagerClient({ address: `127.0.0.1:${again.cm.grpcPort}`, signer, verify: again.verify });
  t.teardown(() => c2.close());
  t.same((await c2.listDataPolicy()).map((p) => p.data_uuid), ['p1']);
});

t.test('sealed KEK: the same sealing key restarts with every key; another key, a passphrase or both sources cannot start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-sealed-'));
  const sealingKeyFile = join(dir, 'sealing.key');
  writeFileSync(sealingKeyFile, randomBytes(16), { mode: 0o600 }); // what Gramine's _sgx_mrenclave file holds
  const f = await startTestCapsuleManager(t, { audit: false, dir, kek: { sealingKeyFile } });
  const c = f.client(alice);
  await c.registerCert();
  const k = randomBytes(16);
  await c.createDataKeys([{ resource_uri: 's1', data_key_b64: k.toString('base64') }]);
  await c.createDataPolicy({ data_uuid: 's1', rules: [{ rule_id: 'self', grantee_party_ids: [alice.partyId], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: [] }], global_constraints: [] }] });
  const stored = (await f.cm.store.list('datakey'))[0]!.value.toString();
  t.notOk(stored.includes(k.toString('base64')), 'the data key is stored wrapped');
  await f.cm.close();

  const otherKeyFile = join(dir, 'other.key');
  writeFileSync(otherKeyFile, randomBytes(16), { mode: 0o600 });
  await t.rejects(startOnStore(dir, { sealingKeyFile: otherKeyFile }), { code: 'KEK_MISMATCH', message: /another enclave or machine/ }, 'another sealing key (another enclave or machine)');
  await t.rejects(startOnStore(dir, { passphrase: 'the operator guesses', scryptCost: 1024 }), { code: 'KEK_MISMATCH', message: /comes from a TEE sealing key/ }, 'not even the operator with a passphrase');
  await t.rejects(startOnStore(dir, { sealingKeyFile, passphrase: 'both at once please' }), { code: 'INVALID_REQUEST', message: /excludes/ }, 'a sealing key and a passphrase together');
  await t.rejects(startOnStore(dir, { sealingKeyFile: join(dir, 'absent') }), { code: 'INVALID_REQUEST', message: /cannot be read/ }, 'a missing sealing key file');

  const again = await startTestCapsuleManager(t, { audit: false, dir, kek: { sealingKeyFile } });
  const released = await again.client(alice).getDataKeys(
    { initiator_party_id: alice.partyId, scope: '', op_name: 'PSI', resources: [{ resource_uri: 's1', columns: [], attrs: '' }], env: '', global_attrs: '' },
    again.appAttester,
  );
  t.same(released, [{ resource_uri: 's1', data_key_b64: k.toString('base64') }], 'restarted with the same sealing key, the CM unwraps and releases the key');
});

t.test('config errors are reported at once', async (t) => {
  await t.rejects(startCapsuleManager({ bogus: 1, grpc: { port: -1 } }), { code: 'CONFIG_INVALID', message: /bogus[\s\S]*port|port[\s\S]*bogus/ });
});
