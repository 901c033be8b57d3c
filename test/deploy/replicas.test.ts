// The multi-replica deployment (examples/deploy/replicas + nats-cluster) under
// a node loss: a real 3-node JetStream cluster, two capsule managers on an R3 KV
// bucket, two control planes replicating routing through another R3 bucket, and
// a real Envoy on control plane 1. The nats-server leading the CM bucket is
// killed with SIGKILL; writes and reads keep working through both replicas, a
// route applied on control plane 2 reaches Envoy via control plane 1, and every
// write acknowledged before or after the kill is still there.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { connect, type NatsConnection } from 'nats';
import { NatsCluster } from '../../dev/nats-cluster.ts';
import { freePort } from '../../dev/free-port.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { createAttester } from '../../platforms/index.ts';
import { startCapsuleManager } from '../../capsule-manager/start.ts';
import { CapsuleManagerClient } from '../../capsule-manager/transport/client.ts';
import { generatePartyKeys } from '../../capsule-manager/core/party-keys.ts';
import { startControlPlane } from '../../control-plane/start.ts';
import { generateBootstrap } from '../../envoy-bootstrap/index.ts';
import { startEnvoy } from '../helpers/envoy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { adminToken } from '../helpers/admin-token.ts';

const here = dirname(fileURLToPath(import.meta.url));
const exampleDir = join(here, '../../examples/deploy/replicas');
const example = (f: string): any => parse(readFileSync(join(exampleDir, f), 'utf8'));
const APP_MR = 'c3'.repeat(32);

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number): Promise<{ value: T; ms: number; failures: number }> {
  const start = Date.now();
  let failures = 0;
  let last: unknown;
  while (Date.now() - start < timeoutMs) {
    try {
      const v = await fn();
      if (v) return { value: v, ms: Date.now() - start, failures };
    } catch (e) {
      last = e;
    }
    failures++;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

async function streamLeader(nc: NatsConnection, stream: string): Promise<string> {
  const info = await (await nc.jetstreamManager()).streams.info(stream);
  if (!info.cluster?.leader) throw new Error(`stream ${stream} has no leader`);
  return info.cluster.leader;
}

/** The routing API's credential (set once the token is written). */
let apiAuth: Record<string, string> = {};

async function api(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`${base}${path}`, { method, signal: AbortSignal.timeout(5000), headers: { ...apiAuth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined };
}

async function viaEnvoy(port: number, path: string): Promise<string | undefined> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) });
  return r.status === 200 ? r.text() : undefined;
}

t.test('multi-replica deployment keeps serving and loses nothing when a nats-server is killed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-replicas-'));
  const cluster = await NatsCluster.start(3);
  t.teardown(() => cluster.stop());
  const admin = await connect({ servers: cluster.servers, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  t.teardown(() => admin.close());
  await until('JetStream meta leader', async () => (await admin.jetstreamManager()).getAccountInfo(), 20_000);

  // --- capsule managers from the example files (ports, paths and attestation adapted to the test)
  const app = await createAttester('sim', { simKeyDir: join(dir, 'app-sim'), simMeasurements: { mr_ta: APP_MR } });
  const passFile = join(dir, 'kek-passphrase');
  writeFileSync(passFile, 'replicas test passphrase\n', { mode: 0o600 });
  chmodSync(passFile, 0o600);
  const cmConfig = (file: string) => {
    const c = example(file);
    t.equal(c.storage.kind, 'nats', `${file}: NATS store`);
    t.equal(c.storage.nats.replicas, 3, `${file}: KV replicas 3`);
    return {
      ...c,
      grpc: { ...c.grpc, port: 0 },
      http: { ...c.http, port: 0 },
      identityDir: join(dir, 'cm-identity'),
      storage: { ...c.storage, nats: { ...c.storage.nats, servers: cluster.servers } },
      kek: { passphraseFile: passFile, scryptCost: 1024 },
      attestation: { ...c.attestation, self: 'sim', allowInsecure: true, trustedSimKeys: [app.simPublicKeyPem!] },
      audit: { ...c.audit, path: join(dir, `${file}.audit.log`) },
      logLevel: 'silent',
    };
  };
  const cm1 = await startCapsuleManager(cmConfig('cm-1.yaml'));
  t.teardown(() => cm1.close());
  const cm2 = await startCapsuleManager(cmConfig('cm-2.yaml'));
  t.teardown(() => cm2.close());
  t.equal(cm2.certPem, cm1.certPem, 'both replicas present the same CM identity');
  const cmBucket = cmConfig('cm-1.yaml').storage.nats.bucket as string;
  t.equal((await (await admin.jetstream().views.kv(cmBucket)).status()).replicas, 3, 'the CM store bucket is replicated on all three nodes');

  const [alice, appParty] = await Promise.all([generatePartyKeys('alice'), generatePartyKeys('app')]);
  const verify = { trustedSimKeys: [cm1.simPublicKeyPem!], policy: { allowInsecure: true as const } };
  const client = (port: number, p: typeof alice, timeoutMs = 10_000) => {
    const c = new CapsuleManagerClient({ address: `127.0.0.1:${port}`, signer: { privateKey: p.privateKey, certChainPem: [p.certPem] }, verify, timeoutMs });
    t.teardown(() => c.close());
    return c;
  };
  const owner1 = client(cm1.grpcPort, alice);
  const owner2 = client(cm2.grpcPort, alice);
  const app1 = client(cm1.grpcPort, appParty);
  const app2 = client(cm2.grpcPort, appParty);
  // Listing clients with a short deadline (see rulesOf below).
  const lister = new Map([owner1, owner2].map((c, i) => [c, client([cm1, cm2][i]!.grpcPort, alice, 2500)]));
  const rule = (id: string) => ({ rule_id: id, grantee_party_ids: [alice.partyId], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: [`r.env.tee.sim.mr_ta == "${APP_MR}"`] }], global_constraints: [] });
  const keysFor = (c: CapsuleManagerClient, uri: string) =>
    c.getDataKeys({ initiator_party_id: alice.partyId, scope: '', op_name: 'PSI', resources: [{ resource_uri: uri, columns: ['id'], attrs: '' }], env: '', global_attrs: '' } as never, app);
  // ListDataPolicy enumerates keys (NatsStore.list -> kv.keys(), an ephemeral
  // consumer). After a node loss that call sometimes hangs until the client
  // deadline (the consumer lands on the dead peer; KV get is unaffected), so
  // listings are retried within a bound and the hung attempts are reported.
  let hungListings = 0;
  const rulesOf = async (c: CapsuleManagerClient, uuid: string) =>
    (
      await until(
        `policy ${uuid}`,
        async () => {
          try {
            return ((await lister.get(c)!.listDataPolicy()).find((p) => p.data_uuid === uuid)?.rules ?? []).map((r) => r.rule_id).sort();
          } catch (e) {
            hungListings++;
            throw e;
          }
        },
        20_000,
      )
    ).value;

  // --- control planes from the example files; the first creates the routing bucket R3
  const cpExample = example('cp-1.yaml');
  const [upA, upB] = await Promise.all([
    startUpstream(t, (_req, _b, res) => res.end('upstream-a')),
    startUpstream(t, (_req, _b, res) => res.end('upstream-b')),
  ]);
  const listenPort = await freePort();
  // The routing API's token and the xDS sockets in a private temporary directory.
  const cpToken = adminToken(t);
  const runDir = join(cpToken.dir, 'run');
  apiAuth = cpToken.headers;
  const cpConfig = (file: string) => {
    const c = example(file);
    const edge = c.app.plugins[0].config;
    return {
      ...c,
      xds: { ...c.xds, socket: join(runDir, `${c.id}.sock`) },
      api: { ...c.api, port: 0, tokenFile: cpToken.tokenFile },
      nats: { ...c.nats, servers: cluster.servers },
      app: { plugins: [{ ...c.app.plugins[0], config: { ...edge, listener: { ...edge.listener, port: listenPort }, clusters: [{ ...edge.clusters[0], endpoints: [{ address: '127.0.0.1', port: upA.port }] }] } }] },
      logLevel: 'silent',
    };
  };
  const cp1 = await startControlPlane(cpConfig('cp-1.yaml'), { logger: silentLogger });
  t.teardown(() => cp1.close());
  const cp2 = await startControlPlane(cpConfig('cp-2.yaml'), { logger: silentLogger });
  t.teardown(() => cp2.close());
  t.equal((await api(cp2.apiUrl, 'GET', '/v1/status')).json.replication.mode, 'nats');
  const routingStream = await (await admin.jetstreamManager()).streams.info(`KV_${cpExample.nats.bucket}`);
  t.equal(routingStream.config.num_replicas, 3, 'routing bucket created with 3 replicas');

  await startEnvoy(t, {
    bootstrap: generateBootstrap({ nodeId: 'app-1', cluster: 'app', ...cp1.xdsTarget, mode: 'delta', adminPort: await freePort() }),
    concurrency: 1,
    logLevel: 'error',
    timeoutMs: 20_000,
  });
  t.equal((await until('Envoy serves the default route', () => viaEnvoy(listenPort, '/'), 15_000)).value, 'upstream-a');

  // --- before the kill: owner data through CM 1, a route through control plane 1
  const k1 = randomBytes(32).toString('base64');
  await owner1.registerCert();
  await owner1.createDataKeys([{ resource_uri: 'd1', data_key_b64: k1 }]);
  await owner1.createDataPolicy({ data_uuid: 'd1', rules: [rule('before')] });
  t.same(await rulesOf(owner2, 'd1'), ['before'], 'CM 2 sees the policy written through CM 1');
  t.same(await keysFor(app2, 'd1'), [{ resource_uri: 'd1', data_key_b64: k1 }], 'CM 2 releases the key written through CM 1 to the attested app');

  t.equal((await api(cp1.apiUrl, 'PUT', '/v1/clusters/svc-a2', { endpoints: [{ address: '127.0.0.1', port: upA.port }] })).status, 200);
  const r1 = await api(cp1.apiUrl, 'PUT', '/v1/routes/before', { match: { prefix: '/before/' }, cluster: 'svc-a2' });
  t.equal(r1.status, 200, 'route applied on control plane 1');
  await until('control plane 2 converges', async () => (await api(cp2.apiUrl, 'GET', '/v1/routing')).json.revision === r1.json.revision, 10_000);
  t.same((await api(cp2.apiUrl, 'GET', '/v1/routing')).json.routes.map((r: { name: string }) => r.name), ['before']);
  t.equal((await until('route live in Envoy', () => viaEnvoy(listenPort, '/before/x'), 10_000)).value, 'upstream-a');

  // --- kill -9 the node that leads the CM bucket (the worst node to lose)
  const leader = await streamLeader(admin, `KV_${cmBucket}`);
  const victim = cluster.nodes[cluster.specs.findIndex((s) => s.name === leader)]!;
  t.ok(victim, `leader ${leader} is one of ours`);
  t.comment(`killing ${leader} (leader of KV_${cmBucket}; routing bucket leader: ${await streamLeader(admin, `KV_${cpExample.nats.bucket}`)})`);
  await victim.kill();
  t.notOk(victim.running, `${leader} is dead`);
  const killedAt = Date.now();

  // --- after the kill: writes through CM 2, reads through CM 1
  const k2 = randomBytes(32).toString('base64');
  const w1 = await until('CM 2 accepts a new data key', async () => {
    await owner2.createDataKeys([{ resource_uri: 'd2', data_key_b64: k2 }]).catch((e: { code?: string }) => {
      if (e.code !== 'ALREADY_EXISTS') throw e; // an earlier attempt was applied but its answer lost
    });
    return true;
  }, 20_000);
  await until('CM 2 accepts a policy', async () => {
    await owner2.createDataPolicy({ data_uuid: 'd2', rules: [rule('after')] }).catch((e: { code?: string }) => {
      if (e.code !== 'ALREADY_EXISTS') throw e;
    });
    return true;
  }, 10_000);
  await until('CM 2 accepts a rule on the old policy', async () => {
    await owner2.addDataRule('d1', rule('after')).catch((e: { code?: string }) => {
      if (e.code !== 'ALREADY_EXISTS') throw e;
    });
    return true;
  }, 10_000);
  t.comment(`first CM write after the kill acknowledged in ${w1.ms} ms (${w1.failures} failed attempts)`);
  // the JetStream API itself may time out while the meta group re-elects, so this is retried too
  const newLeader = (await until('a CM bucket leader after the kill', () => streamLeader(admin, `KV_${cmBucket}`), 20_000)).value;
  t.not(newLeader, leader, `the CM bucket has a new leader (${newLeader})`);
  t.ok(Date.now() - killedAt < 30_000, 'CM writes recovered within 30 s of the kill');
  t.same(await rulesOf(owner1, 'd1'), ['after', 'before'], 'CM 1 reads the rule written through CM 2');
  t.same(await rulesOf(owner1, 'd2'), ['after'], 'CM 1 reads the policy written through CM 2');
  t.same(await keysFor(app1, 'd2'), [{ resource_uri: 'd2', data_key_b64: k2 }], 'CM 1 releases the key written through CM 2');

  // --- after the kill: a new route through control plane 2 reaches Envoy via control plane 1
  const w2 = await until('control plane 2 accepts a cluster', async () => (await api(cp2.apiUrl, 'PUT', '/v1/clusters/svc-b', { endpoints: [{ address: '127.0.0.1', port: upB.port }] })).status === 200, 15_000);
  const r2 = await until('control plane 2 accepts a route', async () => {
    const r = await api(cp2.apiUrl, 'PUT', '/v1/routes/after', { match: { prefix: '/after/' }, cluster: 'svc-b' });
    return r.status === 200 && r.json;
  }, 10_000);
  t.comment(`first routing write after the kill acknowledged in ${w2.ms} ms`);
  const conv = await until('control plane 1 converges on the new route', async () => (await api(cp1.apiUrl, 'GET', '/v1/routing')).json.revision >= r2.value.revision, 30_000);
  t.comment(`control plane 1 converged ${conv.ms} ms after the write`);
  t.same((await api(cp1.apiUrl, 'GET', '/v1/routing')).json, (await api(cp2.apiUrl, 'GET', '/v1/routing')).json, 'both control planes hold the same routing state');
  const live = await until('new route live in Envoy', () => viaEnvoy(listenPort, '/after/x'), 10_000);
  t.equal(live.value, 'upstream-b', 'traffic through Envoy reaches the new upstream');
  t.ok(upB.requests.some((r) => r.url === '/after/x'), 'upstream B saw the request');

  // --- nothing acknowledged is lost, on either replica
  for (const [name, owner, appC] of [['CM 1', owner1, app1], ['CM 2', owner2, app2]] as const) {
    t.same(await rulesOf(owner, 'd1'), ['after', 'before'], `${name}: d1 rules`);
    t.same(await rulesOf(owner, 'd2'), ['after'], `${name}: d2 rules`);
    t.same(await keysFor(appC, 'd1'), [{ resource_uri: 'd1', data_key_b64: k1 }], `${name}: d1 key`);
    t.same(await keysFor(appC, 'd2'), [{ resource_uri: 'd2', data_key_b64: k2 }], `${name}: d2 key`);
  }
  for (const [name, cp] of [['control plane 1', cp1], ['control plane 2', cp2]] as const) {
    const routing = (await api(cp.apiUrl, 'GET', '/v1/routing')).json;
    t.same(routing.routes.map((r: { name: string }) => r.name).sort(), ['after', 'before'], `${name}: both routes`);
    t.same(routing.clusters.map((c: { name: string }) => c.name).sort(), ['svc-a2', 'svc-b'], `${name}: both clusters`);
  }
  t.equal(await viaEnvoy(listenPort, '/before/y'), 'upstream-a', 'the route from before the kill still serves');
  t.comment(`ListDataPolicy calls that hung past the 2.5 s deadline after the kill and were retried: ${hungListings}`);
});
