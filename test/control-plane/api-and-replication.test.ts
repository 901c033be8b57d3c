// Dynamic routing API (schema validation, OpenAPI, clear errors with no change)
// and replication through a real nats-server KV bucket: two control-plane
// replicas converge on the same routing state and the same xDS versions.
import t from 'tap';
import { rmSync } from 'node:fs';
import { startNats } from '../helpers/nats.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { startControlPlane } from '../../control-plane/start.ts';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.ts';
import { TYPE } from '../../control-plane/core/xds/type-urls.ts';
import { routeSample } from './plugin-samples.ts';
import { until } from './e2e-scenario.ts';

const app = { plugins: [routeSample()] };

/** The routing API of a control plane, with its bearer token. */
const call = (cp: TestControlPlane, method: string, path: string, body?: unknown) => cp.call(method, path, body);

t.test('HTTP API: OpenAPI, status, validation errors and refusals change nothing', async (t) => {
  const cp = await startTestControlPlane(t, { app }, { xds: 'tcp' });
  t.teardown(() => cp.close());
  const base = cp.apiUrl;
  const oa = await call(cp, 'GET', '/openapi.json');
  t.equal(oa.status, 200);
  t.equal(oa.json.openapi.slice(0, 2), '3.');
  t.ok(oa.json.paths['/v1/routes/{name}']?.put?.requestBody, 'PUT /v1/routes/{name} documented with its body schema');
  t.ok(oa.json.paths['/v1/clusters/{name}']?.delete);

  const versionBefore = cp.core.current!.resources[TYPE.route].version;
  const v1 = await call(cp, 'PUT', '/v1/routes/x', { match: { prefix: 'no-slash' }, cluster: 'svc-a' });
  t.equal(v1.status, 400);
  t.equal(v1.json.code, 'INVALID_REQUEST');
  const v2 = await call(cp, 'PUT', '/v1/clusters/c1', { endpoints: [], bogus: 1 });
  t.equal(v2.status, 400);
  t.match(v2.json.message, /unknown property "bogus"[\s\S]*\/endpoints/, 'every schema error at once');
  const v3 = await call(cp, 'PUT', '/v1/routes/x', { match: { prefix: '/x' }, cluster: 'nope' });
  t.equal(v3.status, 412);
  t.equal(v3.json.code, 'INCONSISTENT_SNAPSHOT');
  t.same(v3.json.details.errors, ['route configuration "edge_routes" references missing cluster "nope"']);
  const v4 = await call(cp, 'DELETE', '/v1/routes/ghost');
  t.equal(v4.status, 404);
  t.equal(cp.core.current!.resources[TYPE.route].version, versionBefore, 'no refused change reached the snapshot');
  t.equal(cp.routing.get().revision, 0);

  t.equal((await call(cp, 'PUT', '/v1/clusters/c1', { endpoints: [{ address: '127.0.0.1', port: 9 }] })).status, 200);
  const ok = await call(cp, 'PUT', '/v1/routes/x', { match: { path: '/x' }, cluster: 'c1' });
  t.equal(ok.status, 200);
  t.equal(ok.json.revision, 2);
  t.not(cp.core.current!.resources[TYPE.route].version, versionBefore, 'accepted change published');
  const del = await call(cp, 'DELETE', '/v1/clusters/c1');
  t.equal(del.status, 412, 'a cluster still routed to cannot be removed');
  t.equal((await call(cp, 'DELETE', '/v1/routes/x')).status, 200);
  t.equal((await call(cp, 'DELETE', '/v1/clusters/c1')).status, 200);
  t.same((await call(cp, 'GET', '/v1/routing')).json, { clusters: [], routes: [], revision: 4 });

  const bad = await call(cp, 'PUT', '/v1/app-config', { plugins: [{ plugin: 'route', config: { listener: {} } }] });
  t.equal(bad.status, 400);
  t.match(bad.json.message, /missing required property "port"/);
  t.same((await call(cp, 'GET', '/v1/app-config')).json.plugins[0].name, 'edge', 'app config unchanged');

  const page = await fetch(`${base}/status`);
  t.match(page.headers.get('content-type') ?? '', /text\/html/);
  const html = await page.text();
  t.match(html, /fetch\('\/v1\/status'/);
  t.notMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\//, 'self-contained: no external assets');
  t.equal((await fetch(`${base}/`)).status, 200);
  const st = await call(cp, 'GET', '/v1/status');
  t.equal(st.json.controlPlaneId, 'aenv-control-plane');
  t.equal(st.json.replication.mode, 'local');
  t.match(await (await fetch(`${base}/metrics`)).text(), /aenv_control_plane_xds_connected_nodes 0/);
});

t.test('NATS KV: two replicas converge; invalid changes are refused everywhere', async (t) => {
  const nats = await startNats(t);
  const nc = { servers: [nats.url], bucket: 'routing_test' };
  const a = await startTestControlPlane(t, { id: 'cp-a', app, nats: nc }, { xds: 'tcp' });
  t.teardown(() => a.close());
  const b = await startTestControlPlane(t, { id: 'cp-b', app, nats: nc }, { xds: 'tcp' });
  t.teardown(() => b.close());

  t.equal((await call(a, 'PUT', '/v1/clusters/shared', { endpoints: [{ address: '127.0.0.1', port: 7001 }] })).status, 200);
  t.equal((await call(b, 'PUT', '/v1/routes/shared', { match: { prefix: '/shared' }, cluster: 'shared' })).status, 200, 'B builds on A\'s cluster');
  await until('convergence', async () => a.routing.get().revision === b.routing.get().revision && a.routing.get().routes.length === 1);
  t.same(a.routing.get(), b.routing.get(), 'same routing state');
  t.strictSame((await call(a, 'GET', '/v1/routing')).json, (await call(b, 'GET', '/v1/routing')).json, 'GET /v1/routing is identical on both replicas (the writer applies schema defaults too)');
  for (const ty of [TYPE.listener, TYPE.route, TYPE.cluster, TYPE.endpoint]) t.equal(a.core.current!.resources[ty].version, b.core.current!.resources[ty].version, `same ${ty.split('.').pop()} version on both`);

  // Concurrent writers: compare-and-set retries, nothing is lost.
  await Promise.all([
    call(a, 'PUT', '/v1/clusters/ca', { endpoints: [{ address: '127.0.0.1', port: 7002 }] }),
    call(b, 'PUT', '/v1/clusters/cb', { endpoints: [{ address: '127.0.0.1', port: 7003 }] }),
  ]);
  await until('concurrent convergence', async () => a.routing.get().clusters.length === 3 && b.routing.get().clusters.length === 3);
  t.same(a.routing.get().clusters.map((c) => c.name).sort(), ['ca', 'cb', 'shared']);
  t.same(a.routing.get(), b.routing.get());

  const rev = b.routing.get().revision;
  const bad = await call(b, 'PUT', '/v1/routes/bad', { match: { prefix: '/bad' }, cluster: 'ghost' });
  t.equal(bad.status, 412);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(a.routing.get().revision, rev, 'nothing replicated');

  // A third replica joining later starts from the bucket.
  const c = await startTestControlPlane(t, { id: 'cp-c', app, nats: nc }, { xds: 'tcp' });
  t.teardown(() => c.close());
  t.same(c.routing.get(), a.routing.get(), 'a late replica loads the current state');
  t.equal(c.status().replication.mode, 'nats');

  // A change proposed programmatically without the optional fields: the writer
  // applies the schema defaults exactly as the readers do.
  await a.routing.apply({ op: 'putCluster', cluster: { name: 'bare', endpoints: [{ address: '127.0.0.1', port: 7004 }] } as never });
  await until('bare cluster replicated', async () => b.routing.get().clusters.some((cl) => cl.name === 'bare'));
  t.strictSame(a.routing.get(), b.routing.get(), 'writer and reader hold the identical state, defaults included');
});

t.test('per-node app config: one node key gets its own snapshot, others keep the default', async (t) => {
  const { adsClient, sotw } = await import('./xds-fixtures.ts');
  const { Listener } = await import('../../proto/gen/envoy/config/listener/v3/listener.ts');
  const cp = await startTestControlPlane(t, { app }, { xds: 'tcp' });
  t.teardown(() => cp.close());
  const client = adsClient(cp.xdsPort);
  t.teardown(() => client.close());
  const special = sotw(client);
  const plain = sotw(client);
  t.teardown(() => { special.call.end(); plain.call.end(); });
  special.send({ node: { id: 'special', cluster: 'c' }, typeUrl: TYPE.listener });
  plain.send({ node: { id: 'plain', cluster: 'c' }, typeUrl: TYPE.listener });
  const names = (r: { resources: Array<{ value: Uint8Array }> }) => r.resources.map((a) => Listener.decode(a.value).name);
  t.same(names(await special.q.next()), ['edge']);
  t.same(names(await plain.q.next()), ['edge']);

  const own = { plugins: [{ ...routeSample({ listen: 17999, a: 1, b: 2 }), name: 'special-edge' }] };
  const bad = await call(cp, 'PUT', '/v1/nodes/special/app-config', { plugins: [{ plugin: 'route', config: { listener: { port: 1 }, routes: [{ name: 'r', match: { prefix: '/' }, cluster: 'ghost' }] } }] });
  t.equal(bad.status, 412, 'an inconsistent node config is refused');
  t.ok(await special.q.quiet(150), 'and nothing is pushed');
  t.equal((await call(cp, 'PUT', '/v1/nodes/special/app-config', own)).status, 200);
  t.same(names(await special.q.next()), ['special-edge'], 'the node gets its own config');
  t.ok(await plain.q.quiet(200), 'other nodes are not touched');
  t.same((await call(cp, 'GET', '/v1/nodes/special/app-config')).json.plugins[0].name, 'special-edge');
  t.ok(cp.status().nodeSnapshots.special, 'status lists node snapshots');
  t.equal((await call(cp, 'DELETE', '/v1/nodes/special/app-config')).status, 200);
  t.same(names(await special.q.next()), ['edge'], 'back to the default');
  t.equal((await call(cp, 'GET', '/v1/nodes/special/app-config')).status, 404);
});

t.test('API credential: every change needs the bearer token, even on loopback; none configured disables changes; a non-loopback API without one refuses to start', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  await t.rejects(startControlPlane({ api: { host: '0.0.0.0' } }, { logger: silentLogger }), { code: 'INSECURE_CONFIG' });
  const dir = mkdtempSync(join(tmpdir(), 'cp-token-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'a-long-enough-test-token\n', { mode: 0o600 });
  const cp = await startTestControlPlane(t, { app, api: { tokenFile } }, { xds: 'tcp' });
  const body = JSON.stringify({ endpoints: [{ address: '127.0.0.1', port: 5 }] });
  const put = (url: string, auth?: string) => fetch(`${url}/v1/clusters/t1`, { method: 'PUT', headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) }, body });
  const none = await put(cp.apiUrl);
  t.equal(none.status, 401);
  t.equal(((await none.json()) as { code: string }).code, 'ADMIN_UNAUTHENTICATED');
  t.equal((await put(cp.apiUrl, 'Bearer wrong-token-of-some-length')).status, 401);
  t.equal((await put(cp.apiUrl, 'a-long-enough-test-token')).status, 401, 'the token without the Bearer scheme is not accepted');
  t.equal(cp.routing.get().revision, 0, 'unauthenticated changes do nothing');
  t.equal((await put(cp.apiUrl, 'Bearer a-long-enough-test-token')).status, 200);
  t.equal((await fetch(`${cp.apiUrl}/v1/status`)).status, 200, 'reads stay open on loopback');

  const open = await startControlPlane({ app }, { logger: silentLogger });
  t.teardown(() => open.close());
  const disabled = await put(open.apiUrl, 'Bearer anything-at-all-here');
  t.equal(disabled.status, 403);
  t.match(await disabled.json(), { code: 'ADMIN_DISABLED', message: /api\.tokenFile/ }, 'no credential configured: changes are disabled, with the field to set');
  t.equal(open.routing.get().revision, 0);
  t.equal((await fetch(`${open.apiUrl}/v1/routing`)).status, 200, 'reads still work');
  await t.rejects(startControlPlane({ api: { tokenFile: join(dir, 'missing') } }, { logger: silentLogger }), { code: /TOKEN_FILE_INVALID|INSECURE_CONFIG|CONFIG/ }, 'a missing token file refuses to start');
});
