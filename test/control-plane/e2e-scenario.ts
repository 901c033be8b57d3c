// The real-Envoy end-to-end scenario, run once per xDS mode (e2e-sotw/e2e-delta):
// Envoy starts from only the generated bootstrap; the control plane is its
// only config source. Route change live; invalid resource NACKed while
// traffic continues; control-plane restart -> Envoy keeps serving and resyncs.
import type { Test } from 'tap';
import { startEnvoy } from '../helpers/envoy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { freePort } from '../../dev/free-port.ts';
import { pollUntil } from '../../foundation/poll.ts';
import { generateBootstrap } from '../../envoy-bootstrap/index.ts';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.ts';
import { withRawResource } from '../../control-plane/core/xds/snapshot.ts';
import { TYPE } from '../../control-plane/core/xds/type-urls.ts';
import { Cluster, Cluster_DiscoveryType } from '../../proto/gen/envoy/config/cluster/v3/cluster.ts';

/** Polls every 100 ms until `fn` returns a truthy value (foundation/poll.ts). */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  return pollUntil(what, fn, { timeoutMs, stepMs: 100 });
}

async function body(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return `${r.status} ${await r.text()}`;
}

function appConfig(listenPort: number, upstreamPort: number, cluster = 'a') {
  return {
    revision: 'e2e',
    plugins: [
      {
        plugin: 'route',
        name: 'edge',
        config: {
          listener: { address: '127.0.0.1', port: listenPort },
          clusters: [{ name: cluster, endpoints: [{ address: '127.0.0.1', port: upstreamPort }] }],
          routes: [{ name: 'all', match: { prefix: '/' }, cluster }],
        },
      },
    ],
  };
}

async function startCp(t: Test, xdsSocket: string, tokenFile: string, app: unknown): Promise<TestControlPlane> {
  // The same socket and token as before the restart (a stale socket file is replaced).
  return until('control plane to bind', async () => startTestControlPlane(t, { id: 'e2e-cp', xds: { socket: xdsSocket }, api: { tokenFile }, app }), 10_000);
}

export async function runScenario(t: Test, mode: 'sotw' | 'delta'): Promise<void> {
  const a = await startUpstream(t, (_req, _b, res) => res.end('from-a'));
  const b = await startUpstream(t, (_req, _b, res) => res.end('from-b'));
  const listenPort = await freePort();
  // xDS over a Unix socket (a co-located Envoy); the routing API with its token.
  let cp = await startTestControlPlane(t, { id: 'e2e-cp', app: appConfig(listenPort, a.port) });
  const nodeId = `e2e-${mode}`;
  const envoy = await startEnvoy(t, { name: nodeId, bootstrap: generateBootstrap({ nodeId, cluster: 'e2e', ...cp.xdsTarget, mode, adminPort: 0 }) });
  const url = `http://127.0.0.1:${listenPort}`;

  t.equal(await until('traffic through the xDS listener', async () => ((await body(`${url}/x`)) === '200 from-a' ? '200 from-a' : undefined)), '200 from-a', 'Envoy serves what the control plane sent');
  const dump = JSON.stringify(await envoy.configDump());
  t.match(dump, /"name":"edge"/, 'listener came over LDS');
  t.match(dump, /"edge_routes"/, 'route configuration came over RDS');
  const node = await until('ACKs in status', async () => {
    const n = cp.status().nodes.find((x) => x.nodeId === nodeId);
    return n && n.types[TYPE.route]?.ackedVersion && n.types[TYPE.cluster]?.ackedVersion && n.types[TYPE.endpoint]?.ackedVersion ? n : undefined;
  });
  t.equal(node.streams, 1, 'one ADS stream');
  t.same(node.modes, [mode]);
  t.equal(node.types[TYPE.listener]?.ackedVersion, cp.core.current!.resources[TYPE.listener].version, 'LDS ACKed at the current version');
  const info1 = (await (await envoy.admin('/server_info')).json()) as { uptime_current_epoch: string };

  // Live route change through the HTTP API.
  const put = async (path: string, payload: unknown) => cp.api('PUT', path, payload);
  t.equal((await put('/v1/clusters/b', { endpoints: [{ address: '127.0.0.1', port: b.port }] })).status, 200);
  t.equal((await put('/v1/routes/to-b', { match: { prefix: '/b' }, cluster: 'b' })).status, 200);
  t.equal(await until('the new route to be live', async () => ((await body(`${url}/b/1`)) === '200 from-b' ? 'ok' : undefined)), 'ok', 'route change live without restart');
  t.equal(await body(`${url}/x`), '200 from-a', 'other routes unchanged');
  const info2 = (await (await envoy.admin('/server_info')).json()) as { uptime_current_epoch: string };
  t.ok(parseInt(info2.uptime_current_epoch) >= parseInt(info1.uptime_current_epoch), 'same Envoy epoch (no restart)');

  // A cluster whose definition changes but whose endpoints do not is re-warmed by
  // Envoy, which then needs its endpoints again: they are re-sent with it.
  const tUpdate = Date.now();
  t.equal((await put('/v1/clusters/b', { endpoints: [{ address: '127.0.0.1', port: b.port }], connectTimeoutMs: 2500 })).status, 200);
  await until('updated cluster b active', async () => /"connect_timeout":"2\.500s"/.test(JSON.stringify(await envoy.configDump({ resource: 'dynamic_active_clusters' }))), 12_000);
  const warmMs = Date.now() - tUpdate;
  t.ok(warmMs < 5000, `a changed cluster is active in ${warmMs} ms (no initial_fetch_timeout wait)`);
  t.equal(await body(`${url}/b/3`), '200 from-b');

  // Removal: a route and its cluster deleted through the API disappear from Envoy
  // (delta: removed_resources; SotW: absent from the full state).
  t.equal((await put('/v1/routes/gone', { match: { prefix: '/gone' }, cluster: 'b' })).status, 200);
  t.equal((await put('/v1/clusters/extra', { endpoints: [{ address: '127.0.0.1', port: b.port }] })).status, 200);
  await until('cluster extra active', async () => JSON.stringify(await envoy.configDump({ resource: 'dynamic_active_clusters' })).includes('"name":"extra"'));
  t.equal((await cp.api('DELETE', '/v1/clusters/extra')).status, 200);
  t.equal((await cp.api('DELETE', '/v1/routes/gone')).status, 200);
  await until('cluster extra removed from Envoy', async () => !JSON.stringify(await envoy.configDump({ resource: 'dynamic_active_clusters' })).includes('"name":"extra"'));
  t.pass('a deleted cluster is removed from Envoy');
  t.equal(await until('route /gone removed', async () => ((await body(`${url}/gone`)) === '200 from-a' ? 'ok' : undefined)), 'ok', 'a deleted route falls back to the catch-all');

  // An invalid change is refused by the API and changes nothing.
  const rev = cp.routing.get().revision;
  const bad = await put('/v1/routes/broken', { match: { prefix: '/c' }, cluster: 'missing' });
  t.equal(bad.status, 412);
  t.match(((await bad.json()) as { message: string }).message, /missing cluster "missing"/);
  t.equal(cp.routing.get().revision, rev, 'routing revision unchanged');

  // A resource that passes our checks but Envoy refuses (connect_timeout must be > 0): NACK.
  const good = cp.core.current!;
  const invalid = Cluster.fromPartial({ name: 'bad', type: Cluster_DiscoveryType.STATIC, connectTimeout: { seconds: -5 } });
  cp.cache.setDefault(withRawResource(good, TYPE.cluster, 'bad', invalid));
  const nack = await until('the NACK to be reported', async () => cp.status().nodes.find((x) => x.nodeId === nodeId)?.types[TYPE.cluster]?.lastNack);
  t.match(nack.message, /duration|connect_timeout|Proto constraint/i, `Envoy's error_detail is recorded: ${nack.message.slice(0, 120)}`);
  t.not(cp.status().nodes.find((x) => x.nodeId === nodeId)?.types[TYPE.cluster]?.ackedVersion, nack.version, 'the NACKed version is not recorded as ACKed');
  t.equal(await body(`${url}/x`), '200 from-a', 'traffic continues on the last good config');
  t.equal(await body(`${url}/b/2`), '200 from-b');
  t.notMatch(JSON.stringify(await envoy.configDump({ resource: 'dynamic_active_clusters' })), /"name":"bad"/, 'the invalid cluster is not active');
  const metrics = await (await fetch(`${cp.apiUrl}/metrics`)).text();
  t.match(metrics, new RegExp(`aenv_control_plane_xds_nacks_total\\{type_url="${TYPE.cluster.replace(/\./g, '\\.')}",mode="${mode}"\\} [1-9]`), 'NACK counted in metrics');
  const statusJson = (await (await fetch(`${cp.apiUrl}/v1/status`)).json()) as { nodes: Array<{ nodeId: string; types: Record<string, { lastNack?: { message: string } }> }> };
  t.ok(statusJson.nodes.find((n) => n.nodeId === nodeId)?.types[TYPE.cluster]?.lastNack, 'NACK visible over HTTP');
  cp.cache.setDefault(good);

  // Control plane restart: Envoy keeps serving, then resyncs to the new control plane's config.
  const xdsSocket = cp.xdsSocket!;
  await cp.close();
  t.equal(await body(`${url}/x`), '200 from-a', 'Envoy keeps serving while the control plane is down');
  cp = await startCp(t, xdsSocket, cp.tokenFile, appConfig(listenPort, b.port, 'b2'));
  t.equal(await until('resync after restart', async () => ((await body(`${url}/x`)) === '200 from-b' ? 'ok' : undefined), 20_000), 'ok', 'Envoy reconnected and applied the new config');
  await until('ACK from the reconnected Envoy', async () => cp.status().nodes.find((x) => x.nodeId === nodeId && x.streams === 1 && x.types[TYPE.route]?.ackedVersion === cp.core.current!.resources[TYPE.route].version));
  t.pass('the reconnected Envoy ACKed the new route version');
}
