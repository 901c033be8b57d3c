// NatsStore.list() on a real 3-node JetStream cluster (R3 bucket) after one
// node is killed with SIGKILL: the listing keeps answering within a bound and
// with the right keys. (The former kv.keys()-based listing created a temporary
// consumer and often hung until the client deadline in this situation.)
import t from 'tap';
import { connect } from 'nats';
import { NatsCluster } from '../../../dev/nats-cluster.ts';
import { NatsStore } from '../../../capsule-manager/storage/nats-store.ts';

const BUCKET = 'cm_cluster_list';
const cluster = await NatsCluster.start(3, 'cmlist');
t.teardown(() => cluster.stop());

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const start = Date.now();
  let last: unknown;
  while (Date.now() - start < timeoutMs) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (${String((last as Error)?.message ?? last)})`);
}

t.test('list() answers within 3 s, 10 times, after the bucket leader is killed', async (t) => {
  // The JetStream meta leader must exist before a bucket can be created.
  const store = await until('open R3 bucket', () => NatsStore.open({ servers: cluster.servers, bucket: BUCKET, replicas: 3, timeoutMs: 3000 }), 20_000);
  t.teardown(() => store.close());
  for (let i = 0; i < 5; i++) await store.create(`policy.s.k${i}`, Buffer.from(String(i)));
  await store.create('other.k', Buffer.from('x'));
  await store.create('policy.s.gone', Buffer.from('y'));
  await store.delete('policy.s.gone');
  const want = Array.from({ length: 5 }, (_, i) => `policy.s.k${i}`);
  t.same((await store.list('policy.s')).map((e) => e.key), want, 'before the kill: live keys only, deleted key not listed');

  const admin = await connect({ servers: cluster.servers });
  t.teardown(() => admin.close());
  const leader = (await (await admin.jetstreamManager()).streams.info(`KV_${BUCKET}`)).cluster?.leader;
  const victim = cluster.nodes[cluster.specs.findIndex((s) => s.name === leader)];
  t.ok(victim, `leader ${leader} is one of ours`);
  await victim!.kill();
  t.notOk(victim!.running, `${leader} killed (SIGKILL)`);

  // A new stream leader is elected first; until then nothing can answer.
  const t0 = Date.now();
  await until('first listing after the kill', async () => ((await store.list('policy.s')).length === 5 ? true : undefined), 15_000);
  t.comment(`first listing after the kill: ${Date.now() - t0} ms`);

  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const s = Date.now();
    const l = await Promise.race([
      store.list('policy.s'),
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error('list() took over 3 s')), 3000).unref()),
    ]);
    times.push(Date.now() - s);
    t.same(l.map((e) => e.key), want, `listing ${i + 1}: same live keys`);
    t.same(l.map((e) => e.value.toString()), ['0', '1', '2', '3', '4']);
  }
  t.comment(`listings after the kill (ms): ${times.join(', ')}`);
  t.ok(Math.max(...times) < 3000, `every listing under 3 s (max ${Math.max(...times)} ms)`);
  // Writes and deletes still work with one node gone; list() reflects them.
  await store.create('policy.s.new', Buffer.from('n'));
  await store.delete('policy.s.k0');
  t.same((await store.list('policy.s')).map((e) => e.key), [...want.slice(1), 'policy.s.new'].sort());
  t.same((await store.list('')).map((e) => e.key), [...want.slice(1), 'other.k', 'policy.s.new'].sort(), 'prefix "" lists every live key');
});
