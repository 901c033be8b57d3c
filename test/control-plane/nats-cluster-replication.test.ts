// Routing replication over a real 3-node JetStream cluster: the KV bucket is
// created with nats.replicas, and a replica whose nats-server is killed (-9)
// still converges on a change written through another replica, bounded in time
// (the reconciliation read covers the 8-10 s stall of a watch on a lost node).
import t from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { connect } from 'nats';
import { NatsCluster } from '../../dev/nats-cluster.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.ts';
import { validateConfig } from '../../foundation/config.ts';
import { ControlPlaneConfig } from '../../control-plane/config.ts';
import { ControlPlaneCore } from '../../control-plane/core/control-plane.ts';
import { NatsRoutingSync } from '../../control-plane/transport/nats-routing.ts';
import { startNats } from '../helpers/nats.ts';
import { routeSample } from './plugin-samples.ts';
import { until } from './e2e-scenario.ts';

const app = { plugins: [routeSample()] };
const bucket = 'routing_r3';

async function put(cp: TestControlPlane, path: string, body: unknown): Promise<number> {
  const r = await Promise.race([cp.api('PUT', path, body), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('PUT timed out')), 5000))]);
  await r.text();
  return r.status;
}

t.test('config: replicas 1..5 (default 1), reconcileSeconds default 2', async (t) => {
  const c = validateConfig(ControlPlaneConfig, { nats: { servers: ['nats://127.0.0.1:4222'] } }, 'cfg');
  t.equal(c.nats?.replicas, 1);
  t.equal(c.nats?.reconcileSeconds, 2);
  t.throws(() => validateConfig(ControlPlaneConfig, { nats: { servers: ['x'], replicas: 6 } }, 'cfg'), /replicas/);
  t.throws(() => validateConfig(ControlPlaneConfig, { nats: { servers: ['x'], replicas: 0 } }, 'cfg'), /replicas/);
});

t.test('3-node NATS cluster: replicated bucket, a replica survives the loss of its nats-server', async (t) => {
  const cluster = await NatsCluster.start(3, 'cpr3');
  t.teardown(() => cluster.stop());
  const [s1, s2, s3] = cluster.servers as [string, string, string];
  // Replica A talks to node 1 (and learns the others from it); replica B to node 2.
  const a = await until('replica A to open the bucket', async () =>
    startTestControlPlane(t, { id: 'cp-a', app, nats: { servers: [s1], bucket, replicas: 3, reconcileSeconds: 1 } }, { xds: 'tcp' }), 20_000);
  t.teardown(() => a.close());
  // JetStream API calls can time out (5 s) while a busy machine settles the cluster: every opening is retried, bounded.
  const b = await until('replica B to open the bucket', async () =>
    startTestControlPlane(t, { id: 'cp-b', app, nats: { servers: [s2], bucket, replicas: 3, reconcileSeconds: 1 } }, { xds: 'tcp' }), 20_000);
  t.teardown(() => b.close());

  const nc = await connect({ servers: [s3] });
  t.teardown(() => nc.close());
  const bucketReplicas = () => until('bucket status', async () => (await (await nc.jetstream().views.kv(bucket)).status()).replicas, 20_000);
  t.equal(await bucketReplicas(), 3, 'bucket created with 3 replicas');

  // A replica configured with another count uses the existing bucket and warns.
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const c = await until('replica C to open the bucket', async () =>
    startTestControlPlane(t, { id: 'cp-c', app, nats: { servers: [s3], bucket, replicas: 1 } }, { xds: 'tcp', logger: pino({ level: 'warn' }, sink) }), 20_000);
  t.teardown(() => c.close());
  t.ok(lines.some((l) => /another replica count/.test(l) && /"configured":1/.test(l) && /"actual":3/.test(l)), 'replica-count mismatch logged as a warning');
  t.equal(await bucketReplicas(), 3, 'existing bucket unchanged');

  t.equal(await put(a, '/v1/clusters/one', { endpoints: [{ address: '127.0.0.1', port: 7101 }] }), 200);
  await until('B sees the first change', async () => b.routing.get().clusters.length === 1, 10_000);

  await cluster.nodes[0]!.kill(); // kill -9 the node replica A is connected to
  const killedAt = Date.now();
  // The stream may be electing a new leader: retry the write, bounded.
  await until('write through B after the node loss', async () => (await put(b, '/v1/clusters/two', { endpoints: [{ address: '127.0.0.1', port: 7102 }] })) === 200, 15_000);
  const writtenAt = Date.now();
  await until('A converges', async () => a.routing.get().clusters.length === 2 && a.routing.get().revision === b.routing.get().revision, 8_000);
  t.pass(`A converged ${Date.now() - writtenAt} ms after the write (${writtenAt - killedAt} ms from the kill to an accepted write)`);
  t.same(a.routing.get(), b.routing.get(), 'same routing state on A and B');
  t.same(a.routing.get().clusters.map((x) => x.name).sort(), ['one', 'two']);
});

t.test('reconciliation read: a replica whose watch stalls still applies newer revisions, validated as watched ones', async (t) => {
  const nats = await startNats(t);
  const opts = (reconcileSeconds: number) => ({ servers: [nats.url], bucket: 'routing_reconcile', key: 'routing', replicas: 1, reconcileSeconds });
  const replica = async (reconcileSeconds: number) => {
    const core = new ControlPlaneCore(silentLogger);
    core.setAppConfig(app);
    const sync = await NatsRoutingSync.start(core, opts(reconcileSeconds), silentLogger);
    t.teardown(() => sync.close());
    // Simulate a watch served by a lost node: it delivers nothing more.
    (sync as unknown as { stopWatch: () => void }).stopWatch();
    return { core, sync };
  };
  const writer = await replica(0);
  const stalled = await replica(1);
  const noReconcile = await replica(0);

  await writer.sync.propose({ op: 'putCluster', cluster: { name: 'late', protocol: 'http1', connectTimeoutMs: 1000, endpoints: [{ address: '127.0.0.1', port: 7201 }] } });
  const rev = writer.core.routing.revision;
  await until('the stalled replica reconciles', async () => stalled.core.routing.revision === rev, 4_000);
  t.same(stalled.core.routing, writer.core.routing, 'same state via the periodic read');
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(noReconcile.core.routing.revision, 0, 'with reconcileSeconds 0 (and no watch) nothing arrives: the read is what converged it');

  // An invalid revision read by reconciliation is rejected exactly like a watched one.
  const nc = await connect({ servers: [nats.url] });
  t.teardown(() => nc.close());
  const kv = await nc.jetstream().views.kv('routing_reconcile');
  const badRev = await kv.put('routing', new TextEncoder().encode(JSON.stringify({ clusters: [{ name: 'x' }], routes: [] })));
  await until('the bad revision is recorded', async () => stalled.sync.info().lastError?.revision === badRev, 4_000);
  t.match(stalled.sync.info().lastError?.message, /routing state revision/);
  t.equal(stalled.core.routing.revision, rev, 'last good state kept');
  t.same(stalled.core.routing.clusters.map((c) => c.name), ['late']);
});
