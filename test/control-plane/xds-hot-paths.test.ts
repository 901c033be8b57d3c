// The per-change paths that run once per stream at 10,000 clients, made cheap
// without changing what goes out: a response encoded once for every stream
// (only the nonce appended per stream, SotW and delta) decodes to the response
// as it was encoded before; delta skips a type whose version and subscription did not
// change, but still answers a subscription change; the status keeps its
// connected-node count as a counter and its times as numbers until viewed.
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { silentLogger } from '../../foundation/logger.ts';
import { SnapshotCache } from '../../control-plane/core/xds/cache.ts';
import { XdsStatus } from '../../control-plane/core/xds/status.ts';
import { SotwStream } from '../../control-plane/core/xds/sotw-stream.ts';
import { DeltaStream } from '../../control-plane/core/xds/delta-stream.ts';
import { encodedDelta, encodedSotw, withNonce } from '../../control-plane/core/xds/encoded-responses.ts';
import { createSnapshot, type ResourceSet, type Snapshot, type XdsResource } from '../../control-plane/core/xds/snapshot.ts';
import { rawResponses } from '../../control-plane/transport/xds-grpc.ts';
import { TYPE, type TypeUrl } from '../../control-plane/core/xds/type-urls.ts';
import { AggregatedDiscoveryServiceService } from '../../proto/gen/envoy/service/discovery/v3/ads.ts';
import { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from '../../proto/gen/envoy/service/discovery/v3/discovery.ts';

/** Clusters a, b (EDS, connect timeouts as given) with their endpoints, and a route configuration "edge" to `cluster` under `prefix`. */
function routed(label: string, prefix: string, cluster = 'a', timeouts: Record<string, number> = {}): Snapshot {
  return createSnapshot(label, {
    clusters: ['a', 'b'].map((name) => ({ name, type: 3, edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 2 } }, connectTimeout: { seconds: timeouts[name] ?? 1 } })),
    endpoints: ['a', 'b'].map((name, i) => ({ clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 1001 + i } } } }] }] })),
    routes: [{ name: 'edge', virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix }, route: { cluster } }] }] }],
  });
}

/** The same snapshot, with the items of the given types counting every look at them. */
function counting(snap: Snapshot, types: TypeUrl[]): { snap: Snapshot; looks: Record<string, number> } {
  const looks: Record<string, number> = {};
  const resources = { ...snap.resources };
  for (const ty of types) {
    looks[ty] = 0;
    const items = snap.resources[ty].items;
    const spy = new Map(items) as Map<string, XdsResource>;
    for (const m of ['values', 'has', 'get', 'keys', 'entries', 'forEach'] as const) {
      const orig = (spy[m] as (...a: unknown[]) => unknown).bind(spy);
      (spy as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
        looks[ty]!++;
        return orig(...a);
      };
    }
    resources[ty] = { version: snap.resources[ty].version, items: spy } satisfies ResourceSet;
  }
  return { snap: { label: `${snap.label}+spy`, resources }, looks };
}

t.test('SotW: the encoding shared by every stream, with the nonce appended, decodes to the response with its nonce', async (t) => {
  const snap = routed('v1', '/');
  for (const [ty, names] of [[TYPE.cluster, undefined], [TYPE.endpoint, ['b', 'missing', 'a']], [TYPE.route, ['edge']], [TYPE.listener, undefined]] as Array<[TypeUrl, string[] | undefined]>) {
    const set = snap.resources[ty];
    const enc = encodedSotw(ty, set, names, 'cp-1');
    const items = names ? names.map((n) => set.items.get(n)).filter((r) => r !== undefined) : [...set.items.values()];
    t.same(enc.items.map((r) => r.name), items.map((r) => r.name), `${ty.split('.').pop()}: the subscribed resources, in the order asked`);
    for (const nonce of ['1', 'zz', 'x'.repeat(200), 'nonce-ü-✓']) {
      // What the stream sent before: the whole message encoded with its nonce.
      const before = DiscoveryResponse.fromPartial({ versionInfo: set.version, resources: items.map((r) => r.any), typeUrl: ty, nonce, controlPlane: { identifier: 'cp-1' } });
      const bytes = withNonce(enc.bytes, nonce);
      const decoded = DiscoveryResponse.decode(bytes);
      t.ok(isDeepStrictEqual(decoded, DiscoveryResponse.decode(DiscoveryResponse.encode(before).finish())), `nonce of ${nonce.length} chars: decodes as the old encoding does`);
      t.ok(isDeepStrictEqual(decoded, before), 'and equals the message itself');
      t.equal(bytes.length, DiscoveryResponse.encode(before).finish().length, 'same size: only the field order differs');
    }
  }
  const set = snap.resources[TYPE.cluster];
  t.equal(encodedSotw(TYPE.cluster, set, undefined, 'cp-1'), encodedSotw(TYPE.cluster, set, undefined, 'cp-1'), 'encoded once per set and subscription');
  t.not(encodedSotw(TYPE.cluster, set, undefined, 'cp-2'), encodedSotw(TYPE.cluster, set, undefined, 'cp-1'), 'per control-plane id');
  t.not(encodedSotw(TYPE.cluster, set, ['a'], 'cp-1'), encodedSotw(TYPE.cluster, set, undefined, 'cp-1'), 'a named subscription is its own entry');
  t.equal(DiscoveryResponse.decode(encodedSotw(TYPE.cluster, set, ['b'], 'cp-1').bytes).resources.length, 1);
  t.equal(DiscoveryResponse.decode(withNonce(encodedSotw(TYPE.route, snap.resources[TYPE.route], ['edge'], 'cp-1').bytes, '')).nonce, '', 'an empty nonce stays absent');
});

t.test('delta: the encoding shared by every stream sent the same resources, with the nonce appended, decodes to the response with its nonce', async (t) => {
  const snap = routed('v1', '/');
  const set = snap.resources[TYPE.cluster];
  const all = [...set.items.values()];
  for (const [changed, removed] of [[all, []], [all.slice(1), ['gone', 'also-gone']], [[], ['x']], [[], []]] as Array<[XdsResource[], string[]]>) {
    const enc = encodedDelta(TYPE.cluster, set, changed, removed, 'cp-1');
    for (const nonce of ['1', 'x'.repeat(300)]) {
      const before = DeltaDiscoveryResponse.fromPartial({ systemVersionInfo: set.version, typeUrl: TYPE.cluster, nonce, resources: changed.map((r) => ({ name: r.name, version: r.version, resource: r.any })), removedResources: removed, controlPlane: { identifier: 'cp-1' } });
      const decoded = DeltaDiscoveryResponse.decode(withNonce(enc.bytes, nonce));
      t.ok(isDeepStrictEqual(decoded, DeltaDiscoveryResponse.decode(DeltaDiscoveryResponse.encode(before).finish())), `${changed.length} changed, ${removed.length} removed, nonce of ${nonce.length}: decodes as the old encoding does`);
      t.ok(isDeepStrictEqual(decoded, before), 'and equals the message itself');
    }
    t.equal(encodedDelta(TYPE.cluster, set, changed, removed, 'cp-1'), enc, 'encoded once');
  }
  t.not(encodedDelta(TYPE.cluster, set, all, [], 'cp-2'), encodedDelta(TYPE.cluster, set, all, [], 'cp-1'), 'per control-plane id');
  t.not(encodedDelta(TYPE.cluster, set, all, ['a'], 'cp-1'), encodedDelta(TYPE.cluster, set, all, [], 'cp-1'), 'per removal list');
});

t.test('SotW streams: the bytes handed to the transport are the response sent, nonce included, and streams share the rest', async (t) => {
  const cache = new SnapshotCache();
  const status = new XdsStatus();
  cache.setDefault(routed('v1', '/'));
  const got: Array<Array<{ r: DiscoveryResponse; bytes: Uint8Array }>> = [[], []];
  const streams = [0, 1].map((i) => new SotwStream({ cache, status, logger: silentLogger, controlPlaneId: 'cp' }, (r, bytes) => got[i]!.push({ r, bytes })));
  streams.forEach((s, i) => {
    s.onRequest(DiscoveryRequest.fromPartial({ node: { id: `n${i}`, cluster: 'c' }, typeUrl: TYPE.cluster }));
    s.onRequest(DiscoveryRequest.fromPartial({ typeUrl: TYPE.route, resourceNames: ['edge'] }));
  });
  cache.setDefault(routed('v2', '/next', 'b'));
  for (const list of got) {
    t.same(list.map((x) => x.r.typeUrl), [TYPE.cluster, TYPE.route, TYPE.route], 'CDS, RDS, then the changed RDS only');
    for (const { r, bytes } of list) t.ok(isDeepStrictEqual(DiscoveryResponse.decode(bytes), DiscoveryResponse.decode(DiscoveryResponse.encode(r).finish())), `bytes of ${r.nonce} decode as the response`);
  }
  t.not(got[0]![2]!.r.nonce, got[0]![1]!.r.nonce, 'a fresh nonce per response');
  t.equal(got[0]![2]!.r.resources, got[1]![2]!.r.resources, 'the resources of the same version are shared across streams, not rebuilt');
  // ACK and NACK semantics are unchanged.
  const last = got[0]![2]!.r;
  streams[0]!.onRequest(DiscoveryRequest.fromPartial({ typeUrl: TYPE.route, resourceNames: ['edge'], versionInfo: last.versionInfo, responseNonce: last.nonce }));
  t.equal(status.get('n0')?.types[TYPE.route]?.ackedVersion, last.versionInfo);
  // The transport writes those bytes as they are; a message (Fetch) is still encoded.
  const ser = rawResponses(AggregatedDiscoveryServiceService).streamAggregatedResources.responseSerialize as (v: unknown) => Buffer;
  const bytes = got[1]![2]!.bytes;
  t.same([...ser(bytes)], [...bytes], 'bytes pass through');
  t.same(DiscoveryResponse.decode(ser(last)), DiscoveryResponse.decode(DiscoveryResponse.encode(last).finish()), 'a message is encoded');
  streams.forEach((s) => s.close());
});

t.test('delta: a snapshot that changes one type leaves the others untouched, a subscription change is still answered', async (t) => {
  const cache = new SnapshotCache();
  const status = new XdsStatus();
  const v1 = routed('v1', '/');
  cache.setDefault(v1);
  const sent: DeltaDiscoveryResponse[] = [];
  let bytesDiffer = 0;
  const d = new DeltaStream({ cache, status, logger: silentLogger, controlPlaneId: 'cp' }, (r, bytes) => {
    if (!isDeepStrictEqual(DeltaDiscoveryResponse.decode(bytes), DeltaDiscoveryResponse.decode(DeltaDiscoveryResponse.encode(r).finish()))) bytesDiffer++;
    sent.push(r);
  });
  const ack = (r: DeltaDiscoveryResponse) => d.onRequest(DeltaDiscoveryRequest.fromPartial({ typeUrl: r.typeUrl, responseNonce: r.nonce }));
  d.onRequest(DeltaDiscoveryRequest.fromPartial({ node: { id: 'n1', cluster: 'c' }, typeUrl: TYPE.cluster }));
  d.onRequest(DeltaDiscoveryRequest.fromPartial({ typeUrl: TYPE.listener }));
  d.onRequest(DeltaDiscoveryRequest.fromPartial({ typeUrl: TYPE.endpoint, resourceNamesSubscribe: ['a'] }));
  d.onRequest(DeltaDiscoveryRequest.fromPartial({ typeUrl: TYPE.route, resourceNamesSubscribe: ['edge'] }));
  t.same(sent.map((r) => [r.typeUrl, r.resources.map((x) => x.name)]), [[TYPE.cluster, ['a', 'b']], [TYPE.listener, []], [TYPE.endpoint, ['a']], [TYPE.route, ['edge']]]);
  sent.splice(0).forEach(ack);

  // Only the route changes: CDS, EDS and LDS are not even looked at, RDS goes out once.
  const v2 = counting(routed('v2', '/r2', 'b'), [TYPE.cluster, TYPE.endpoint, TYPE.listener, TYPE.route]);
  cache.setDefault(v2.snap);
  t.same(sent.map((r) => [r.typeUrl, r.resources.map((x) => x.name), r.removedResources]), [[TYPE.route, ['edge'], []]], 'one RDS response');
  t.same([v2.looks[TYPE.cluster], v2.looks[TYPE.endpoint], v2.looks[TYPE.listener]], [0, 0, 0], 'unchanged types skipped');
  t.ok(v2.looks[TYPE.route]! > 0, 'the changed type is worked out');
  sent.splice(0).forEach(ack);
  const routeLooks = v2.looks[TYPE.route]!;
  cache.setDefault(v2.snap);
  t.same(sent, [], 'the same snapshot again: nothing sent');
  t.equal(v2.looks[TYPE.route], routeLooks, 'and nothing worked out');

  // A subscription change at an unchanged version is still answered.
  d.onRequest(DeltaDiscoveryRequest.fromPartial({ typeUrl: TYPE.endpoint, resourceNamesSubscribe: ['b'] }));
  t.same(sent.map((r) => [r.typeUrl, r.resources.map((x) => x.name)]), [[TYPE.endpoint, ['b']]], 'the newly subscribed endpoints');
  t.ok(v2.looks[TYPE.endpoint]! > 0);
  sent.splice(0).forEach(ack);
  d.onRequest(DeltaDiscoveryRequest.fromPartial({ typeUrl: TYPE.endpoint, resourceNamesUnsubscribe: ['a'] }));
  t.same(sent, [], 'an unsubscribe needs no response');
  // ... and a later re-subscription sends it again, since the client dropped it.
  d.onRequest(DeltaDiscoveryRequest.fromPartial({ typeUrl: TYPE.endpoint, resourceNamesSubscribe: ['a'] }));
  t.same(sent.map((r) => [r.typeUrl, r.resources.map((x) => x.name)]), [[TYPE.endpoint, ['a']]]);
  sent.splice(0).forEach(ack);

  // An updated EDS cluster: its unchanged endpoints are sent again after it (Envoy re-warms it).
  const v3 = routed('v3', '/r2', 'b', { a: 5 });
  t.equal(v3.resources[TYPE.endpoint].version, v1.resources[TYPE.endpoint].version, 'endpoints unchanged');
  cache.setDefault(v3);
  t.same(sent.map((r) => [r.typeUrl, r.resources.map((x) => x.name)]), [[TYPE.cluster, ['a']], [TYPE.endpoint, ['a']]], 'the cluster, then its endpoints at the same version');
  t.equal(bytesDiffer, 0, 'the bytes handed to the transport decode as every response sent');
  d.close();
});

t.test('status: the connected-node count follows connects and disconnects; times are ISO strings in the view', async (t) => {
  const s = new XdsStatus();
  const counts: number[] = [];
  s.onEvent((e) => {
    if (e.kind === 'connect' || e.kind === 'disconnect') counts.push(s.connectedNodes());
  });
  const slow = () => s.view().filter((n) => n.streams > 0).length;
  s.connected('a', 'c', 'sotw');
  s.connected('a', 'c', 'delta'); // a second stream of the same node
  s.connected('b', 'c', 'sotw');
  s.sent('fetch-only', 'fetch', TYPE.cluster, 'v', '', 1); // a Fetch never connects
  t.equal(s.connectedNodes(), 2);
  s.disconnected('a', 'sotw');
  t.equal(s.connectedNodes(), 2, 'a still has its delta stream');
  s.disconnected('a', 'delta');
  t.equal(s.connectedNodes(), 1);
  s.disconnected('a', 'delta'); // one too many: no negative count
  s.disconnected('ghost', 'sotw'); // never connected
  t.equal(s.connectedNodes(), 1);
  s.connected('a', 'c', 'sotw');
  s.disconnected('b', 'sotw');
  t.same(counts, [1, 1, 2, 2, 1, 1, 1, 2, 1], 'after every event');
  t.equal(s.connectedNodes(), slow(), 'equals a count over the view');

  s.acked('a', 'sotw', TYPE.cluster, 'v1');
  s.nacked('a', 'sotw', TYPE.route, { version: 'v2', nonce: '3', message: 'no', code: 3 });
  const a = s.get('a')!;
  const isoRe = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
  for (const v of [a.firstSeen, a.lastSeen, a.connectedSince, a.lastAckAt, a.types[TYPE.cluster]!.ackedAt, a.types[TYPE.route]!.lastNack!.at]) t.match(v, isoRe);
  t.equal(a.lastAckAt, a.types[TYPE.cluster]!.ackedAt, 'the last ACK is the latest type ACK');
  t.notOk('connectedSince' in s.get('b')!, 'a disconnected node has no connectedSince');
  t.notOk('sentAt' in a.types[TYPE.cluster]!, 'never sent: no sentAt');
  a.types[TYPE.cluster]!.ackedVersion = 'changed by the reader';
  t.equal(s.get('a')!.types[TYPE.cluster]!.ackedVersion, 'v1', 'the view is a copy');
});

t.test('status: at 10,000 tracked nodes a new node evicts the first-seen disconnected one, never a connected one', async (t) => {
  const s = new XdsStatus();
  for (let i = 0; i < 10_000; i++) s.connected(`n${i}`, 'c', 'sotw');
  t.equal(s.connectedNodes(), 10_000);
  s.connected('over', 'c', 'sotw');
  t.equal(s.view().length, 10_001, 'nothing to evict: every node is connected');
  s.disconnected('n7', 'sotw');
  s.disconnected('n3', 'sotw');
  s.connected('n3', 'c', 'delta'); // back again: no longer evictable
  s.disconnected('n9', 'sotw');
  s.connected('new-1', 'c', 'sotw');
  t.notOk(s.get('n7'), 'n7 (first seen among the disconnected) is forgotten');
  t.ok(s.get('n3') && s.get('n9'), 'the reconnected n3 and the later n9 stay');
  s.connected('new-2', 'c', 'sotw');
  t.notOk(s.get('n9'), 'then n9');
  s.connected('new-3', 'c', 'sotw');
  t.equal(s.view().length, 10_002, 'no disconnected node left: the map grows');
  t.equal(s.connectedNodes(), 10_002);
  t.equal(s.connectedNodes(), s.view().filter((n) => n.streams > 0).length);
});
