// The replicated audit stream: two CM replicas on one real nats-server publish
// their audit records to one JetStream stream and follow it, so each replica's
// GET /api/v1/audit/recent shows the decisions of both; the stream carries
// exactly the records of each replica's hash-chained file.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'nats';
import { generatePartyKeys } from '../../../capsule-manager/core/party-keys.ts';
import { AuditStream, recordsOf, replicaToken } from '../../../capsule-manager/storage/audit-stream.ts';
import { createLogger } from '../../../foundation/logger.ts';
import { startNats } from '../../helpers/nats.ts';
import { startTestCapsuleManager } from '../../helpers/capsule-manager.ts';
import { until } from '../../control-plane/e2e-scenario.ts';

const [alice, app] = await Promise.all([generatePartyKeys('alice'), generatePartyKeys('app')]);

async function recent(httpPort: number): Promise<Array<{ action: string; decision: string; replica?: string; resource_uri?: string }>> {
  return ((await (await fetch(`http://127.0.0.1:${httpPort}/api/v1/audit/recent?limit=50`)).json()) as { records: [] }).records;
}

t.test('two replicas: one audit stream, each replica shows both replicas\' decisions', async (t) => {
  const nats = await startNats(t);
  const storage = { kind: 'nats', nats: { servers: nats.url, bucket: 'cm_audit_stream' } };
  const a = await startTestCapsuleManager(t, { storage, auditReplica: 'cm-a' });
  const b = await startTestCapsuleManager(t, { storage, auditReplica: 'cm-b' });

  // a denial on each replica (no data key by that name: POLICY_DENIED, audited as deny)
  const ask = (uri: string) => ({ initiator_party_id: alice.partyId, scope: '', op_name: 'PSI', resources: [{ resource_uri: uri, columns: [], attrs: '' }], env: '', global_attrs: '' });
  await a.client(alice).registerCert();
  await t.rejects(a.client(app).getDataKeys(ask('only-on-a'), a.appAttester), { code: 'POLICY_DENIED' });
  await t.rejects(b.client(app).getDataKeys(ask('only-on-b'), b.appAttester), { code: 'POLICY_DENIED' });

  for (const [name, f] of [['replica a', a], ['replica b', b]] as const) {
    const seen = await until(`${name} shows both decisions`, async () => {
      const r = await recent(f.cm.httpPort);
      const mine = r.filter((d) => d.action === 'GetDataKeys' && d.decision === 'deny');
      return mine.length === 2 ? mine : undefined;
    });
    t.same(seen.map((d) => [d.resource_uri, d.replica]).sort(), [['only-on-a', 'cm-a'], ['only-on-b', 'cm-b']], `${name}: both replicas' denials, each named by its replica`);
  }

  // the stream holds exactly what each replica's hash-chained file holds
  await Promise.all([a.cm.close(), b.cm.close()]);
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info('aenv_cm_audit');
  const bySubject: Record<string, string[]> = {};
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage('aenv_cm_audit', { seq });
    const rs = recordsOf(m.json<unknown>())!;
    t.ok(rs.length >= 1, `seq ${seq}: ${rs.length} record(s)`);
    for (const r of rs) {
      t.equal(m.subject, `aenv.cm.audit.${r.replica}`, `seq ${seq}: subject names the replica`);
      (bySubject[r.replica] ??= []).push(r.record.hash);
    }
  }
  for (const [replica, f] of [['cm-a', a], ['cm-b', b]] as const) {
    const file = readFileSync(join(f.dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).hash);
    t.ok(file.length >= 1, `${replica} wrote ${file.length} records`);
    t.same(bySubject[replica], file, `${replica}: the stream has its file's records, in order`);
  }

  // a restarted replica shows the decisions from before its start, its own included
  const again = await startTestCapsuleManager(t, { storage, auditReplica: 'cm-a', dir: a.dir });
  const past = (await recent(again.cm.httpPort)).filter((d) => d.action === 'GetDataKeys' && d.decision === 'deny');
  t.same(past.map((d) => [d.resource_uri, d.replica]).sort(), [['only-on-a', 'cm-a'], ['only-on-b', 'cm-b']], 'after a restart: both replicas\' earlier denials, from the stream');
});

t.test('two CMs under one replica name: detected, reported in /metrics', async (t) => {
  const nats = await startNats(t);
  const storage = { kind: 'nats', nats: { servers: nats.url, bucket: 'cm_audit_clash' } };
  const a = await startTestCapsuleManager(t, { storage, auditReplica: 'same' });
  const b = await startTestCapsuleManager(t, { storage, auditReplica: 'same' });
  const clash = async (f: typeof a) => /^aenv_capsule_manager_audit_replica_name_clash 1$/m.test(await (await fetch(`http://127.0.0.1:${f.cm.httpPort}/metrics`)).text());
  t.notOk(await clash(b), 'no clash reported before anything is published');
  const ask = { initiator_party_id: alice.partyId, scope: '', op_name: 'PSI', resources: [{ resource_uri: 'x', columns: [], attrs: '' }], env: '', global_attrs: '' };
  await t.rejects(a.client(app).getDataKeys(ask, a.appAttester), { code: 'POLICY_DENIED' });
  await until('b sees the clash', async () => (await clash(b)) || undefined);
  t.pass('the CM that follows records of its own name from another process reports the clash');
  // the NATS store's read mirror is in /metrics too
  const text = await (await fetch(`http://127.0.0.1:${a.cm.httpPort}/metrics`)).text();
  t.match(text, /^aenv_capsule_manager_store_mirror_current 1$/m, 'the mirror is current');
  const served = Number(/^aenv_capsule_manager_store_mirror_reads_total\{served="mirror"\} (\d+)$/m.exec(text)?.[1]);
  t.ok(served > 0, `${served} reads served by the mirror`);
  t.match(text, /^aenv_capsule_manager_store_mirror_reads_total\{served="kv"\} 0$/m, 'none sent past it');
  t.match(text, /^aenv_capsule_manager_store_read_barriers_total [1-9]\d*$/m);
  t.match(text, /^aenv_capsule_manager_store_mirror_entries [1-9]\d*$/m);
});

t.test('one message per group commit; messages of the one-record shape are still followed', async (t) => {
  const nats = await startNats(t);
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const log = createLogger('test', { level: 'silent' });
  const opts = { stream: 'audit_batch', subjectPrefix: 'audit.batch', replicas: 1, maxAgeDays: 1 };
  const pub = await AuditStream.open(nc, { ...opts, replica: 'p' }, log);
  // an earlier version's message: one record
  const rec = (seq: number) => ({ seq, ts: new Date(0).toISOString(), actor: 'a', action: 'GetDataKeys', target: `t${seq}`, decision: 'deny' as const, prev: 'x', hash: `h${seq}` });
  await nc.jetstream().publish('audit.batch.old', JSON.stringify({ replica: 'old', record: rec(0) }));
  await nc.jetstream().publish('audit.batch.junk', JSON.stringify({ replica: 'junk', records: [{ no: 'action' }] }));
  for (let i = 1; i <= 300; i++) pub.publish(rec(i)); // one tick: one group commit's worth, over MAX_BATCH_RECORDS
  await pub.close();
  const jsm = await nc.jetstreamManager();
  t.equal((await jsm.streams.info('audit_batch')).state.messages, 4, '300 records in 2 messages (256 + 44), beside the old and the junk one');
  const sub = await AuditStream.open(nc, { ...opts, replica: 's' }, log);
  const seen: string[] = [];
  await sub.follow((r) => seen.push(`${r.replica}:${r.record.target}`), 1000);
  await until('all followed', async () => (seen.length === 301 ? true : undefined));
  await sub.close();
  t.same(seen.slice(0, 3), ['old:t0', 'p:t1', 'p:t2'], 'the old shape first, then the batch in file order');
  t.equal(seen.at(-1), 'p:t300');
  t.same(recordsOf({ replica: 'r', records: [] }), undefined, 'an empty batch is not a message');
  t.same(recordsOf({ replica: 3, record: rec(1) }), undefined);
});

t.test('replica names become subject tokens', async (t) => {
  t.equal(replicaToken('aenv-capsule-manager-0'), 'aenv-capsule-manager-0');
  t.equal(replicaToken('host.example.com'), 'host_example_com');
  t.equal(replicaToken('a*b>c d'), 'a_b_c_d');
  t.equal(replicaToken(''), 'cm');
});
