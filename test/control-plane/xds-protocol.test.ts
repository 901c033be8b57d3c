// xDS protocol semantics over real gRPC: version_info, nonces, ACK/NACK,
// wildcard and named subscriptions, delta removals, reconnection, SDS Fetch,
// reflection via grpcurl, and the snapshot consistency check.
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
const run = async (args: string[]) => (await promisify(execFile)(grpcurlBin(), args, { encoding: 'utf8', timeout: 15_000 })).stdout;
import * as grpc from '@grpc/grpc-js';
import { bindServer } from '../../net/grpc-server.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { grpcurlBin } from '../../dev/toolchain.ts';
import { createXdsGrpcServer } from '../../control-plane/transport/xds-grpc.ts';
import { SnapshotCache } from '../../control-plane/core/xds/cache.ts';
import { XdsStatus } from '../../control-plane/core/xds/status.ts';
import { createSnapshot } from '../../control-plane/core/xds/snapshot.ts';
import { TYPE } from '../../control-plane/core/xds/type-urls.ts';
import { Cluster } from '../../proto/gen/envoy/config/cluster/v3/cluster.ts';
import { ClusterLoadAssignment } from '../../proto/gen/envoy/config/endpoint/v3/endpoint.ts';
import { Secret } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret.ts';
import { SecretDiscoveryServiceClient } from '../../proto/gen/envoy/service/secret/v3/sds.ts';
import { DiscoveryRequest, type DiscoveryResponse } from '../../proto/gen/envoy/service/discovery/v3/discovery.ts';
import { adsClient, delta, edsSnapshot, sdsSnapshot, sotw } from './xds-fixtures.ts';
import { mkdtempSync, rmSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { listenKind, type ListenEndpoint } from '../../net/listen.ts';
import type { DeepPartial } from '../../control-plane/core/xds/snapshot.ts';
import { createTestCa, issueTestLeaf } from '../helpers/test-pki.ts';

/**
 * An xDS server bound as the control plane binds it: loopback TCP by default,
 * or the given endpoint (a Unix socket, mutual TLS); `target` is what a client dials.
 */
async function setup(t: Test, ep: ListenEndpoint = {}, opts: { secretsOverLoopbackTcp?: boolean } = {}) {
  const cache = new SnapshotCache();
  const status = new XdsStatus();
  const listen = listenKind(ep, 'xds');
  const bound = await bindServer(createXdsGrpcServer({ cache, status, logger: silentLogger, controlPlaneId: 'test-cp', listen, ...opts }), { ...ep, what: 'xds' });
  t.teardown(() => bound.close());
  const target = bound.kind === 'unix' ? bound.address : `127.0.0.1:${bound.port}`;
  const client = adsClient(target);
  t.teardown(() => client.close());
  return { cache, status, port: bound.port, target, client };
}

function socketDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'aenv-xds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'run');
}

const fetchSecrets = (sds: SecretDiscoveryServiceClient, req: DeepPartial<DiscoveryRequest>) =>
  new Promise<DiscoveryResponse>((resolve, reject) =>
    sds.fetchSecrets(DiscoveryRequest.fromPartial(req as never), (e: grpc.ServiceError | null, r: DiscoveryResponse) => (e ? reject(e) : resolve(r))),
  );
const secretNames = (r: DiscoveryResponse) => r.resources.map((a) => Secret.decode(a.value).name).sort();

const node = { id: 'node-1', cluster: 'c1' };
const names = (r: DiscoveryResponse, dec: (b: Uint8Array) => { name?: string; clusterName?: string }) => r.resources.map((a) => { const m = dec(a.value); return m.name ?? m.clusterName; }).sort();

t.test('SotW: wildcard CDS, ACK, push on change, NACK keeps last good and is recorded, stale nonce ignored', async (t) => {
  const { cache, status, client } = await setup(t);
  cache.setDefault(edsSnapshot('v1', { a: 1001, b: 1002 }));
  const s = sotw(client);
  t.teardown(() => s.call.end());
  s.send({ node, typeUrl: TYPE.cluster });
  const r1 = await s.q.next();
  t.equal(r1.typeUrl, TYPE.cluster);
  t.ok(r1.versionInfo && r1.nonce, 'version_info and nonce set');
  t.same(names(r1, (b) => Cluster.decode(b)), ['a', 'b'], 'wildcard gets every cluster');
  t.equal(r1.controlPlane?.identifier, 'test-cp');
  s.send({ typeUrl: TYPE.cluster, versionInfo: r1.versionInfo, responseNonce: r1.nonce });
  t.ok(await s.q.quiet(200), 'an ACK gets no response');
  t.equal(status.get('node-1')?.types[TYPE.cluster]?.ackedVersion, r1.versionInfo, 'ACKed version recorded');
  t.equal(status.get('node-1')?.streams, 1);

  // Named EDS subscription: only what is asked for.
  s.send({ typeUrl: TYPE.endpoint, resourceNames: ['b'] });
  const e1 = await s.q.next();
  t.same(names(e1, (b) => ClusterLoadAssignment.decode(b)), ['b']);
  s.send({ typeUrl: TYPE.endpoint, resourceNames: ['b'], versionInfo: e1.versionInfo, responseNonce: e1.nonce });

  cache.setDefault(edsSnapshot('v2', { a: 1001, b: 1002, c: 1003 }));
  const r2 = await s.q.next();
  t.equal(r2.typeUrl, TYPE.cluster, 'CDS pushed first (warming order)');
  t.not(r2.versionInfo, r1.versionInfo);
  t.same(names(r2, (b) => Cluster.decode(b)), ['a', 'b', 'c']);
  const e2 = await s.q.next();
  t.equal(e2.typeUrl, TYPE.endpoint, 'then EDS');

  // A stale nonce (the older one) is ignored.
  s.send({ typeUrl: TYPE.cluster, versionInfo: r1.versionInfo, responseNonce: r1.nonce });
  t.ok(await s.q.quiet(200), 'stale nonce: no response');

  // NACK of r2: the last good version is kept by Envoy, we record the error, no resend.
  s.send({ typeUrl: TYPE.cluster, versionInfo: r1.versionInfo, responseNonce: r2.nonce, errorDetail: { code: 3, message: 'bad cluster c' } });
  t.ok(await s.q.quiet(250), 'a NACK does not trigger a resend of the same version');
  const st = status.get('node-1')!.types[TYPE.cluster]!;
  t.equal(st.lastNack?.message, 'bad cluster c');
  t.equal(st.lastNack?.version, r2.versionInfo, 'the refused version is recorded');
  t.equal(st.ackedVersion, r1.versionInfo, 'the ACKed version stays the last good one');

  // Next snapshot fixes things: pushed again.
  cache.setDefault(edsSnapshot('v3', { a: 1001 }));
  const r3 = await s.q.next();
  t.same(names(r3, (b) => Cluster.decode(b)), ['a']);
  s.call.end();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(status.get('node-1')?.streams, 0, 'stream close is seen');
});

t.test('SotW: reconnect with the current version gets no resend; per-node snapshot overrides the default', async (t) => {
  const { cache, client } = await setup(t);
  cache.setDefault(edsSnapshot('d', { a: 1 }));
  const s = sotw(client);
  s.send({ node, typeUrl: TYPE.cluster });
  const r = await s.q.next();
  s.call.end();
  const s2 = sotw(client);
  t.teardown(() => s2.call.end());
  s2.send({ node, typeUrl: TYPE.cluster, versionInfo: r.versionInfo });
  t.ok(await s2.q.quiet(250), 'in sync: nothing to send');
  cache.set('node-1', edsSnapshot('own', { own: 2 }));
  const r2 = await s2.q.next();
  t.same(names(r2, (b) => Cluster.decode(b)), ['own'], 'node-specific snapshot wins');
  const other = sotw(client);
  t.teardown(() => other.call.end());
  other.send({ node: { id: 'node-2', cluster: 'c1' }, typeUrl: TYPE.cluster });
  t.same(names(await other.q.next(), (b) => Cluster.decode(b)), ['a'], 'other nodes keep the default');
});

t.test('SotW: after a control-plane restart, an Envoy holding the current version shows as in sync', async (t) => {
  const first = await setup(t);
  first.cache.setDefault(edsSnapshot('d', { a: 1 }));
  const s = sotw(first.client);
  s.send({ node, typeUrl: TYPE.cluster });
  const r = await s.q.next();
  s.call.end();
  // A new control plane (fresh status) with the same snapshot: nothing is resent.
  const second = await setup(t);
  second.cache.setDefault(edsSnapshot('d', { a: 1 }));
  const s2 = sotw(second.client);
  t.teardown(() => s2.call.end());
  s2.send({ node, typeUrl: TYPE.cluster, versionInfo: r.versionInfo });
  t.ok(await s2.q.quiet(250), 'nothing resent');
  const st = second.status.get('node-1')?.types[TYPE.cluster];
  t.same([st?.sentVersion, st?.ackedVersion], [r.versionInfo, r.versionInfo], 'status: the version it holds counts as sent and ACKed (not ACKed, never sent)');
});

t.test('SotW: a first request without node.id ends the stream with INVALID_ARGUMENT', async (t) => {
  const { client } = await setup(t);
  const s = sotw(client);
  s.send({ typeUrl: TYPE.cluster });
  await new Promise((r) => setTimeout(r, 300));
  t.equal((s.errors[0] as grpc.ServiceError | undefined)?.code, grpc.status.INVALID_ARGUMENT);
});

t.test('delta: wildcard, per-resource versions, removals, named subscribe/unsubscribe, reconnect with initial versions', async (t) => {
  const { cache, status, client } = await setup(t);
  cache.setDefault(edsSnapshot('v1', { a: 1, b: 2 }));
  const d = delta(client);
  t.teardown(() => d.call.end());
  d.send({ node, typeUrl: TYPE.cluster });
  const r1 = await d.q.next();
  t.same(r1.resources.map((r) => r.name).sort(), ['a', 'b']);
  t.ok(r1.resources.every((r) => r.version.length > 0), 'per-resource versions');
  d.send({ typeUrl: TYPE.cluster, responseNonce: r1.nonce });
  await new Promise((r) => setTimeout(r, 50));
  t.equal(status.get('node-1')?.types[TYPE.cluster]?.ackedVersion, r1.systemVersionInfo);

  cache.setDefault(edsSnapshot('v2', { a: 1, c: 3 }));
  const r2 = await d.q.next();
  t.same(r2.resources.map((r) => r.name), ['c'], 'only the new cluster is sent');
  t.same(r2.removedResources, [], 'additions first (make before break)');
  const r2b = await d.q.next();
  t.equal(r2b.typeUrl, TYPE.cluster);
  t.same(r2b.removedResources, ['b'], 'then the removed cluster is announced');
  t.same(r2b.resources, []);
  d.send({ typeUrl: TYPE.cluster, responseNonce: r2.nonce });
  d.send({ typeUrl: TYPE.cluster, responseNonce: r2b.nonce });

  d.send({ typeUrl: TYPE.endpoint, resourceNamesSubscribe: ['a'] });
  const e1 = await d.q.next();
  t.same(e1.resources.map((r) => r.name), ['a']);
  d.send({ typeUrl: TYPE.endpoint, responseNonce: e1.nonce, resourceNamesSubscribe: ['c'] });
  const e2 = await d.q.next();
  t.same(e2.resources.map((r) => r.name), ['c'], 'subscribing adds only the new name');
  d.send({ typeUrl: TYPE.endpoint, responseNonce: e2.nonce, resourceNamesUnsubscribe: ['a'] });
  t.ok(await d.q.quiet(200), 'unsubscribe needs no response');

  // NACK in delta is recorded.
  cache.setDefault(edsSnapshot('v3', { a: 1, c: 3, d: 4 }));
  const c3 = await d.q.next();
  t.same(c3.resources.map((r) => r.name), ['d']);
  t.equal(c3.typeUrl, TYPE.cluster);
  d.send({ typeUrl: TYPE.cluster, responseNonce: c3.nonce, errorDetail: { code: 3, message: 'nope' } });
  await new Promise((r) => setTimeout(r, 50));
  t.equal(status.get('node-1')?.types[TYPE.cluster]?.lastNack?.message, 'nope');
  d.call.end();

  // Reconnect: the client says what it has; only differences travel.
  const d2 = delta(client);
  t.teardown(() => d2.call.end());
  const known = Object.fromEntries(r1.resources.map((r) => [r.name, r.version]));
  d2.send({ node, typeUrl: TYPE.cluster, initialResourceVersions: known });
  const k = await d2.q.next();
  t.same(k.resources.map((r) => r.name), ['c', 'd'], 'only what the client lacks');
  t.same(k.removedResources, ['b']);
});

t.test('delta: the first wildcard answer is sent even when empty', async (t) => {
  const { client } = await setup(t);
  const d = delta(client);
  t.teardown(() => d.call.end());
  d.send({ node, typeUrl: TYPE.listener });
  const r = await d.q.next();
  t.equal(r.resources.length, 0);
  t.equal(r.typeUrl, TYPE.listener);
});

t.test('SDS over the Unix socket: Fetch and stream, and a node gets only the secrets its own resources reference', async (t) => {
  const socket = join(socketDir(t), 'xds.sock');
  const { cache, target } = await setup(t, { socket });
  t.equal(statSync(socket).mode & 0o777, 0o660, 'the socket is owner and group only');
  t.equal(statSync(join(socket, '..')).mode & 0o777, 0o750, 'in a directory created 0750');
  const secrets = [{ name: 'cert-a', tlsCertificate: { certificateChain: { inlineString: 'PEM' } } }, { name: 'ca' }, { name: 'other-app-key', tlsCertificate: { privateKey: { inlineString: 'KEY' } } }];
  cache.setDefault(sdsSnapshot('s', secrets, ['cert-a', 'ca']));
  const sds = new SecretDiscoveryServiceClient(target, grpc.credentials.createInsecure());
  t.teardown(() => sds.close());
  const res = await fetchSecrets(sds, { node, resourceNames: ['cert-a'] });
  t.same(secretNames(res), ['cert-a']);
  t.ok(res.versionInfo);
  t.same(secretNames(await fetchSecrets(sds, { node, resourceNames: ['other-app-key'] })), [], "another app's secret, asked for by name, is not served");
  t.same(secretNames(await fetchSecrets(sds, { node })), ['ca', 'cert-a'], 'a wildcard fetch gets only the referenced ones');
  const call = sds.streamSecrets();
  t.teardown(() => call.end());
  const got = await new Promise<DiscoveryResponse>((resolve) => {
    call.on('data', resolve);
    call.write(DiscoveryRequest.fromPartial({ node, resourceNames: ['ca', 'other-app-key'] }));
  });
  t.same(secretNames(got), ['ca'], 'a stream too');
});

t.test('a process without permission on the socket cannot connect to it', async (t) => {
  const socket = join(socketDir(t), 'xds.sock');
  await setup(t, { socket });
  const probe = `require('net').connect(process.argv[1]).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',(e)=>{console.log(e.code);process.exit(0)})`;
  const asRoot = process.getuid?.() === 0;
  if (!asRoot) chmodSync(socket, 0o000); // the owner itself without the permission bits
  const r = spawnSync(process.execPath, ['-e', probe, socket], { encoding: 'utf8', timeout: 10_000, ...(asRoot ? { uid: 65534, gid: 65534 } : {}) });
  t.equal(r.stdout.trim(), 'EACCES', asRoot ? 'another user (nobody) is refused by the directory and socket modes' : 'no permission bits: refused');
  if (asRoot) {
    chmodSync(join(socket, '..'), 0o755); // even with the directory open, the socket's 0660 refuses
    const r2 = spawnSync(process.execPath, ['-e', probe, socket], { encoding: 'utf8', timeout: 10_000, uid: 65534, gid: 65534 });
    t.equal(r2.stdout.trim(), 'EACCES', "the socket file's mode alone refuses another user");
  }
});

t.test('plaintext loopback TCP serves no secret (SECRETS_REFUSED), unless development asks for it', async (t) => {
  const { cache, target, client } = await setup(t);
  cache.setDefault(sdsSnapshot('s', [{ name: 'cert-a', tlsCertificate: { privateKey: { inlineString: 'KEY' } } }], ['cert-a']));
  const sds = new SecretDiscoveryServiceClient(target, grpc.credentials.createInsecure());
  t.teardown(() => sds.close());
  const e = await fetchSecrets(sds, { node, resourceNames: ['cert-a'] }).then(() => undefined, (x: grpc.ServiceError) => x);
  t.equal(e?.code, grpc.status.PERMISSION_DENIED);
  t.match(e?.details, /SECRETS_REFUSED.*Unix socket/);
  const s = sotw(client);
  t.teardown(() => s.call.end());
  s.send({ node, typeUrl: TYPE.cluster });
  t.equal((await s.q.next()).resources.length, 1, 'clusters are served over loopback TCP');
  s.send({ typeUrl: TYPE.secret, resourceNames: ['cert-a'] });
  await new Promise((r) => s.call.on('error', r));
  t.match(String(s.errors[0]?.message), /SECRETS_REFUSED/, 'an ADS stream asking for a secret is ended');

  const dev = await setup(t, {}, { secretsOverLoopbackTcp: true });
  dev.cache.setDefault(sdsSnapshot('s', [{ name: 'cert-a' }], ['cert-a']));
  const devSds = new SecretDiscoveryServiceClient(dev.target, grpc.credentials.createInsecure());
  t.teardown(() => devSds.close());
  t.same(secretNames(await fetchSecrets(devSds, { node, resourceNames: ['cert-a'] })), ['cert-a'], 'xds.secretsOverLoopbackTcp serves them');
});

t.test('mutual TLS: the client certificate names the node; another node id, no certificate or a foreign CA is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aenv-xds-mtls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await createTestCa(dir, 'xds-ca');
  const other = await createTestCa(dir, 'other-ca');
  const server = await issueTestLeaf(ca, dir, 'xds-server', 'server');
  const byUri = await issueTestLeaf(ca, dir, 'envoy-1', 'client', { uris: ['aenv://node/node-1'] });
  const byCn = await issueTestLeaf(ca, dir, 'node-2', 'client');
  const foreign = await issueTestLeaf(other, dir, 'node-1', 'client');
  const { cache, port } = await setup(t, { port: 0, tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: ca.certFile } });
  cache.setDefault(sdsSnapshot('s', [{ name: 'cert-a' }], ['cert-a']));
  const creds = (leaf?: { certFile: string; keyFile: string }) =>
    grpc.credentials.createSsl(readFileSync(ca.certFile), leaf ? readFileSync(leaf.keyFile) : null, leaf ? readFileSync(leaf.certFile) : null);
  const sdsWith = (leaf?: { certFile: string; keyFile: string }) => {
    const c = new SecretDiscoveryServiceClient(`127.0.0.1:${port}`, creds(leaf), { 'grpc.ssl_target_name_override': 'localhost' });
    t.teardown(() => c.close());
    return c;
  };
  const ok = sdsWith(byUri);
  t.same(secretNames(await fetchSecrets(ok, { node, resourceNames: ['cert-a'] })), ['cert-a'], 'URI SAN aenv://node/node-1 speaks for node-1');
  const mismatch = await fetchSecrets(ok, { node: { id: 'node-2', cluster: 'c1' }, resourceNames: ['cert-a'] }).then(() => undefined, (x: grpc.ServiceError) => x);
  t.equal(mismatch?.code, grpc.status.PERMISSION_DENIED);
  t.match(mismatch?.details, /NODE_ID_MISMATCH.*node-2.*node-1/);
  t.same(secretNames(await fetchSecrets(sdsWith(byCn), { node: { id: 'node-2', cluster: 'c1' }, resourceNames: ['cert-a'] })), ['cert-a'], 'without a URI SAN the CN names the node');
  const s = sotw(adsClient(`127.0.0.1:${port}`, creds(byCn)));
  t.teardown(() => s.call.end());
  s.send({ node, typeUrl: TYPE.cluster });
  await new Promise((r) => s.call.on('error', r));
  t.match(String(s.errors[0]?.message), /NODE_ID_MISMATCH/, 'an ADS stream for another node is ended at its first request');
  for (const [label, leaf] of [['no client certificate', undefined], ['a certificate from another CA', foreign]] as const) {
    const e = await fetchSecrets(sdsWith(leaf), { node, resourceNames: ['cert-a'] }).then(() => undefined, (x: grpc.ServiceError) => x);
    t.equal(e?.code, grpc.status.UNAVAILABLE, `${label}: the handshake fails`);
  }
});

t.test('xDS on plaintext TCP beyond loopback is refused before anything listens', async (t) => {
  t.throws(() => listenKind({ host: '0.0.0.0', port: 0 }, 'xds'), { code: 'INSECURE_LISTEN', message: /xds: plaintext TCP on 0\.0\.0\.0.*xds\.tls.*xds\.socket/ });
  const server = createXdsGrpcServer({ cache: new SnapshotCache(), status: new XdsStatus(), logger: silentLogger, controlPlaneId: 'x' });
  await t.rejects(bindServer(server, { host: '0.0.0.0', port: 0, what: 'xds' }), { code: 'INSECURE_LISTEN' });
  server.forceShutdown();
});

t.test('consistency check names every dangling reference at once', async (t) => {
  t.throws(
    () =>
      createSnapshot('bad', {
        clusters: [{ name: 'x', type: 3 /* EDS */ }],
        routes: [{ name: 'r', virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'missing' } }] }] }],
      }),
    { code: 'INCONSISTENT_SNAPSHOT', message: /cluster "x" uses EDS[\s\S]*missing cluster "missing"/ },
  );
  t.throws(() => createSnapshot('dup', { clusters: [{ name: 'x' }, { name: 'x' }] }), { message: /defined twice/ });
});

t.test('reflection: grpcurl lists and describes the xDS services', async (t) => {
  const { port } = await setup(t);
  const list = await run(['-plaintext', `127.0.0.1:${port}`, 'list']);
  for (const s of ['envoy.service.discovery.v3.AggregatedDiscoveryService', 'envoy.service.secret.v3.SecretDiscoveryService', 'envoy.service.cluster.v3.ClusterDiscoveryService']) t.match(list, s);
  const desc = await run(['-plaintext', `127.0.0.1:${port}`, 'describe', 'envoy.service.discovery.v3.AggregatedDiscoveryService']);
  t.match(desc, /DeltaAggregatedResources/);
});

t.test('a NACK is logged with Envoy\'s error_detail and the node, as a warning', async (t) => {
  const { PassThrough } = await import('node:stream');
  const { createLogger } = await import('../../foundation/logger.ts');
  const lines: string[] = [];
  const dest = new PassThrough();
  dest.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
  const cache = new SnapshotCache();
  const status = new XdsStatus();
  const bound = await bindServer(createXdsGrpcServer({ cache, status, logger: createLogger('cp-test', { destination: dest, level: 'info' }), controlPlaneId: 'log-cp' }));
  t.teardown(() => bound.close());
  const client = adsClient(bound.port);
  t.teardown(() => client.close());
  cache.setDefault(edsSnapshot('v1', { a: 1 }));
  const s = sotw(client);
  t.teardown(() => s.call.end());
  s.send({ node: { id: 'logged-node', cluster: 'c' }, typeUrl: TYPE.cluster });
  const r = await s.q.next();
  s.send({ typeUrl: TYPE.cluster, responseNonce: r.nonce, errorDetail: { code: 3, message: 'cluster a: bad thing' } });
  await new Promise((res) => setTimeout(res, 200));
  const entry = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => /NACK/.test(String(l.msg)));
  t.ok(entry, 'a NACK log line exists');
  t.equal(entry?.level, 40, 'warn level');
  t.equal(entry?.nodeId, 'logged-node');
  t.equal(entry?.error, 'cluster a: bad thing');
  t.equal(entry?.typeUrl, TYPE.cluster);
});

t.test('per-type services: SDS delta, CDS stream, and a wrong type_url on a single-type service is refused', async (t) => {
  const { cache, target } = await setup(t, { socket: join(socketDir(t), 'xds.sock') });
  const { ClusterDiscoveryServiceClient } = await import('../../proto/gen/envoy/service/cluster/v3/cds.ts');
  const { DeltaDiscoveryRequest } = await import('../../proto/gen/envoy/service/discovery/v3/discovery.ts');
  cache.setDefault(sdsSnapshot('s', [{ name: 'one' }, { name: 'two' }], ['one', 'two']));
  const sds = new SecretDiscoveryServiceClient(target, grpc.credentials.createInsecure());
  t.teardown(() => sds.close());
  const dcall = sds.deltaSecrets();
  t.teardown(() => dcall.end());
  const got = await new Promise<{ resources: Array<{ name: string }> }>((resolve) => {
    dcall.on('data', resolve);
    dcall.write(DeltaDiscoveryRequest.fromPartial({ node, resourceNamesSubscribe: ['two'] }));
  });
  t.same(got.resources.map((r) => r.name), ['two'], 'SDS delta with the type implied by the service');

  const cds = new ClusterDiscoveryServiceClient(target, grpc.credentials.createInsecure());
  t.teardown(() => cds.close());
  const c = cds.streamClusters();
  t.teardown(() => c.end());
  const r = await new Promise<DiscoveryResponse>((resolve) => {
    c.on('data', resolve);
    c.write(DiscoveryRequest.fromPartial({ node }));
  });
  t.same(r.resources.map((a) => Cluster.decode(a.value).name), ['app']);
  t.equal(r.typeUrl, TYPE.cluster);

  const wrong = cds.streamClusters();
  const err = await new Promise<grpc.ServiceError>((resolve) => {
    wrong.on('error', resolve);
    wrong.on('data', () => undefined);
    wrong.write(DiscoveryRequest.fromPartial({ node, typeUrl: TYPE.listener }));
  });
  t.equal(err.code, grpc.status.INVALID_ARGUMENT);
  t.match(err.details, /UNKNOWN_TYPE/);
});

t.test('an updated EDS cluster gets its (unchanged) endpoints again, SotW and delta', async (t) => {
  const { cache, client } = await setup(t);
  cache.setDefault(edsSnapshot('v1', { a: 1, b: 2 }));
  const s = sotw(client);
  t.teardown(() => s.call.end());
  s.send({ node, typeUrl: TYPE.cluster });
  const c1 = await s.q.next();
  s.send({ typeUrl: TYPE.cluster, versionInfo: c1.versionInfo, responseNonce: c1.nonce });
  s.send({ typeUrl: TYPE.endpoint, resourceNames: ['a', 'b'] });
  const e1 = await s.q.next();
  s.send({ typeUrl: TYPE.endpoint, resourceNames: ['a', 'b'], versionInfo: e1.versionInfo, responseNonce: e1.nonce });
  const d = delta(client);
  t.teardown(() => d.call.end());
  d.send({ node: { id: 'n-delta', cluster: 'c' }, typeUrl: TYPE.cluster });
  const dc1 = await d.q.next();
  d.send({ typeUrl: TYPE.cluster, responseNonce: dc1.nonce, resourceNamesSubscribe: [] });
  d.send({ typeUrl: TYPE.endpoint, resourceNamesSubscribe: ['a', 'b'] });
  const de1 = await d.q.next();
  d.send({ typeUrl: TYPE.endpoint, responseNonce: de1.nonce });

  cache.setDefault(edsSnapshot('v2', { a: 1, b: 2 }, 3)); // clusters change, endpoints do not
  const c2 = await s.q.next();
  t.equal(c2.typeUrl, TYPE.cluster);
  const e2 = await s.q.next();
  t.equal(e2.typeUrl, TYPE.endpoint, 'SotW: EDS re-sent after the cluster update');
  t.equal(e2.versionInfo, e1.versionInfo, 'at the same version');
  t.equal(e2.resources.length, 2);
  const dc2 = await d.q.next();
  t.equal(dc2.typeUrl, TYPE.cluster);
  const de2 = await d.q.next();
  t.equal(de2.typeUrl, TYPE.endpoint, 'delta: the endpoints of the updated clusters are re-sent');
  t.same(de2.resources.map((r) => r.name).sort(), ['a', 'b']);
});
