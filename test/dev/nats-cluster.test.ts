import t from 'tap';
import { connect, type NatsConnection } from 'nats';
import { NatsCluster } from '../../dev/nats-cluster.ts';

async function waitForJetStream(nc: NatsConnection, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await (await nc.jetstreamManager()).getAccountInfo();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

t.test('3-node JetStream cluster: an R3 KV bucket keeps every acknowledged write when a node is killed', async (t) => {
  const cluster = await NatsCluster.start(3);
  t.teardown(() => cluster.stop());
  const nc = await connect({ servers: cluster.servers, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  t.teardown(() => nc.close());
  await waitForJetStream(nc);
  const kv = await nc.jetstream().views.kv('aenv_cluster_test', { replicas: 3 });
  const status = await kv.status();
  t.equal(status.replicas, 3, 'bucket is replicated on all three nodes');
  for (let i = 0; i < 20; i++) await kv.put(`k${i}`, `v${i}`);
  await cluster.nodes[0]!.kill();
  t.notOk(cluster.nodes[0]!.running, 'node 1 is dead');
  // Writes keep being acknowledged by the remaining quorum, reads see everything.
  let wrote = 0;
  const deadline = Date.now() + 20_000;
  for (let i = 20; i < 40 && Date.now() < deadline; ) {
    try {
      await kv.put(`k${i}`, `v${i}`);
      i++;
      wrote++;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  t.equal(wrote, 20, 'writes continue after losing a node');
  for (let i = 0; i < 40; i++) {
    const e = await kv.get(`k${i}`);
    if (e?.string() !== `v${i}`) t.fail(`k${i} lost`);
  }
  t.pass('all 40 acknowledged writes are readable');
});
