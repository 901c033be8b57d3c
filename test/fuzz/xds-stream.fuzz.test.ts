// Fuzzing the transport-free xDS stream logic (SotW and delta, ADS and
// single-type services) with sequences of malformed DiscoveryRequests: missing
// or empty nodes, unknown/empty/wrong type URLs, stale and invented nonces,
// arbitrary versions and resource names, NACKs, interleaved snapshot changes and
// closes. Properties: a request is answered, ignored, or refused with a
// ControlPlaneError (MISSING_NODE / UNKNOWN_TYPE), never another exception;
// every response names a served type, a fresh nonce and the node's current
// version and resources; another node's stream, status and snapshot are never
// touched; a closed stream is gone from the cache and the status.
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { silentLogger } from '../../foundation/logger.ts';
import { ControlPlaneError } from '../../control-plane/errors.ts';
import { SnapshotCache } from '../../control-plane/core/xds/cache.ts';
import { XdsStatus } from '../../control-plane/core/xds/status.ts';
import { SotwStream } from '../../control-plane/core/xds/sotw-stream.ts';
import { DeltaStream } from '../../control-plane/core/xds/delta-stream.ts';
import { PUSH_ORDER, TYPE, type TypeUrl } from '../../control-plane/core/xds/type-urls.ts';
import type { Snapshot } from '../../control-plane/core/xds/snapshot.ts';
import { DeltaDiscoveryRequest, DiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryResponse } from '../../proto/gen/envoy/service/discovery/v3/discovery.ts';
import { edsSnapshot } from '../control-plane/xds-fixtures.ts';
import { checkProperty, expectTyped, fc, fuzzSettings, selected } from './fuzz-config.ts';

const SNAPS = [edsSnapshot('v1', { a: 1001, b: 1002 }), edsSnapshot('v2', { a: 1001, b: 1002, c: 1003 }), edsSnapshot('v3', { b: 2002 }), edsSnapshot('v4', {})];
const ALL_TYPES = Object.values(TYPE) as TypeUrl[];

type Step =
  | { k: 'req'; stream: number; node?: { id: string; cluster: string }; typeUrl: string; versionInfo: string | { current: true }; nonce: string | { last: number } | undefined; names: string[]; unsubscribe: string[]; nack?: string }
  | { k: 'snapshot'; which: number; nodeKey?: string }
  | { k: 'close'; stream: number };

const nodeId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('n1', 'n2') }, { weight: 1, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }).filter((s) => s !== 'bystander') });
// Mostly served types, so sequences get past the first request; the rest is malformed.
const typeUrl = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...ALL_TYPES) }, { weight: 1, arbitrary: fc.constantFrom('', 'type.googleapis.com/envoy.config.cluster.v2.Cluster', 'type.googleapis.com/google.protobuf.Empty') }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
const resourceName = fc.oneof(fc.constantFrom('a', 'b', 'c', '*', ''), fc.string({ maxLength: 6 }));
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({
    k: fc.constant('req' as const),
    stream: fc.nat({ max: 2 }),
    node: fc.option(fc.record({ id: nodeId, cluster: fc.constantFrom('c1', '', 'c2') }), { nil: undefined, freq: 4 }),
    typeUrl,
    versionInfo: fc.oneof(fc.constant({ current: true as const }), fc.constantFrom('', 'v1'), fc.string({ maxLength: 8 })),
    nonce: fc.option(fc.oneof({ weight: 3, arbitrary: fc.record({ last: fc.nat({ max: 3 }) }) }, { weight: 1, arbitrary: fc.constantFrom('1', '2', '') }, { weight: 1, arbitrary: fc.string({ maxLength: 4 }) }), { nil: undefined, freq: 2 }),
    names: fc.array(resourceName, { maxLength: 4 }),
    unsubscribe: fc.array(resourceName, { maxLength: 2 }),
    nack: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
  }, { requiredKeys: ['k', 'stream', 'typeUrl', 'versionInfo', 'names', 'unsubscribe'] }).map((r) => r as Step) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('snapshot' as const), which: fc.nat({ max: SNAPS.length - 1 }), nodeKey: fc.option(fc.constantFrom('n1', 'n2'), { nil: undefined }) }, { requiredKeys: ['k', 'which'] }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('close' as const), stream: fc.nat({ max: 2 }) }) },
);

interface Harness {
  stream: SotwStream | DeltaStream;
  mode: 'sotw' | 'delta';
  fixedType?: TypeUrl;
  sent: Array<DiscoveryResponse | DeltaDiscoveryResponse>;
  nonces: Set<string>;
  closed: boolean;
  /** Responses after close. */
  late: number;
}

function anyEq(a: { typeUrl: string; value: Uint8Array }, b: { typeUrl: string; value: Uint8Array }): boolean {
  return a.typeUrl === b.typeUrl && Buffer.from(a.value).equals(Buffer.from(b.value));
}

/** Checks one response against the snapshot its node sees now. */
function checkResponse(h: Harness, r: DiscoveryResponse | DeltaDiscoveryResponse, snap: Snapshot): void {
  if (!(PUSH_ORDER as readonly string[]).includes(r.typeUrl)) throw new Error(`response for an unserved type ${JSON.stringify(r.typeUrl)}`);
  if (h.fixedType && r.typeUrl !== h.fixedType) throw new Error(`a ${h.fixedType} service answered with ${r.typeUrl}`);
  if (!r.nonce || h.nonces.has(r.nonce)) throw new Error(`nonce ${JSON.stringify(r.nonce)} is empty or reused`);
  h.nonces.add(r.nonce);
  const set = snap.resources[r.typeUrl as TypeUrl];
  if ('versionInfo' in r) {
    if (r.versionInfo !== set.version) throw new Error(`sotw version ${r.versionInfo} is not the current ${set.version}`);
    for (const a of r.resources) if (![...set.items.values()].some((x) => anyEq(x.any, a))) throw new Error('sotw response carries a resource the snapshot does not have');
  } else {
    if (r.systemVersionInfo !== set.version) throw new Error(`delta system version ${r.systemVersionInfo} is not the current ${set.version}`);
    for (const res of r.resources) {
      const item = set.items.get(res.name);
      if (!item || !res.resource || !anyEq(item.any, res.resource) || item.version !== res.version) throw new Error(`delta resource ${res.name} does not match the snapshot`);
    }
    for (const n of r.removedResources) if (r.resources.some((x) => x.name === n)) throw new Error(`delta both updates and removes ${n}`);
  }
}

/** Across runs: how many responses and refusals the sequences produced (non-vacuity). */
const seen = { responses: 0, refused: 0 };

async function runSteps(steps: Step[], modes: Array<{ mode: 'sotw' | 'delta'; fixed: number }>): Promise<void> {
  const cache = new SnapshotCache();
  const status = new XdsStatus();
  cache.setDefault(SNAPS[0]!);
  // Another node, connected and ACKed before and during the fuzzed streams.
  const bystanderSnap = edsSnapshot('by', { z: 3003 });
  cache.set('bystander', bystanderSnap);
  const bySent: DiscoveryResponse[] = [];
  const by = new SotwStream({ cache, status, logger: silentLogger, controlPlaneId: 'cp' }, (r) => bySent.push(r));
  by.onRequest(DiscoveryRequest.fromPartial({ node: { id: 'bystander', cluster: 'bc' }, typeUrl: TYPE.cluster }));
  by.onRequest(DiscoveryRequest.fromPartial({ typeUrl: TYPE.cluster, versionInfo: bySent[0]!.versionInfo, responseNonce: bySent[0]!.nonce }));
  const byStatus = status.get('bystander');
  const bySentCount = bySent.length;

  const hs: Harness[] = modes.map(({ mode, fixed }) => {
    const fixedType = fixed < ALL_TYPES.length ? ALL_TYPES[fixed] : undefined;
    const h = { mode, sent: [], nonces: new Set(), closed: false, late: 0, ...(fixedType ? { fixedType } : {}) } as unknown as Harness;
    const opts = { cache, status, logger: silentLogger, controlPlaneId: 'cp', ...(fixedType ? { fixedType } : {}) };
    const send = (r: DiscoveryResponse | DeltaDiscoveryResponse) => {
      if (h.closed) h.late++;
      const key = h.stream.nodeId ?? '';
      checkResponse(h, r, cache.get(key));
      h.sent.push(r);
      seen.responses++;
    };
    h.stream = mode === 'sotw' ? new SotwStream(opts, send) : new DeltaStream(opts, send);
    return h;
  });

  for (const s of steps) {
    if (s.k === 'snapshot') {
      if (s.nodeKey) cache.set(s.nodeKey, SNAPS[s.which]!);
      else cache.setDefault(SNAPS[s.which]!);
      continue;
    }
    const h = hs[s.stream % hs.length]!;
    if (s.k === 'close') {
      h.stream.close();
      h.closed = true;
      continue;
    }
    const last = [...h.sent].reverse();
    const nonce = s.nonce === undefined ? undefined : typeof s.nonce === 'string' ? s.nonce : last[s.nonce.last]?.nonce ?? '';
    const key = h.stream.nodeId ?? s.node?.id ?? '';
    const current = (ALL_TYPES as string[]).includes(s.typeUrl) ? cache.get(key).resources[s.typeUrl as TypeUrl].version : '';
    const versionInfo = typeof s.versionInfo === 'string' ? s.versionInfo : current;
    const errorDetail = s.nack === undefined ? undefined : { code: 3, message: s.nack, details: [] };
    try {
      if (h.stream instanceof SotwStream) h.stream.onRequest(DiscoveryRequest.fromPartial({ node: s.node, typeUrl: s.typeUrl, versionInfo, responseNonce: nonce, resourceNames: s.names, errorDetail }));
      else h.stream.onRequest(DeltaDiscoveryRequest.fromPartial({ node: s.node, typeUrl: s.typeUrl, responseNonce: nonce, resourceNamesSubscribe: s.names, resourceNamesUnsubscribe: s.unsubscribe, initialResourceVersions: Object.fromEntries(s.names.map((n) => [n, versionInfo])), errorDetail }));
    } catch (e) {
      expectTyped(e, ControlPlaneError);
      seen.refused++;
      if (!ControlPlaneError.is(e, 'MISSING_NODE') && !ControlPlaneError.is(e, 'UNKNOWN_TYPE')) throw new Error(`refused with ${(e as ControlPlaneError).code}`);
      // What the gRPC transport does with a refused request: it ends the stream.
      h.stream.close();
      h.closed = true;
    }
  }

  // Another node's view is untouched (its snapshot, status and stream).
  if (cache.get('bystander') !== bystanderSnap) throw new Error("the bystander's snapshot changed");
  if (!isDeepStrictEqual(status.get('bystander'), byStatus)) throw new Error("the bystander's status changed");
  if (bySent.length !== bySentCount) throw new Error('the bystander was pushed to by other nodes');
  if (hs.some((h) => h.late > 0)) throw new Error('a closed stream still sent responses');

  // Closing every stream leaves nothing behind: no watch fires, no stream is counted.
  for (const h of hs) {
    h.stream.close();
    h.closed = true;
  }
  cache.setDefault(SNAPS[1]!);
  cache.set('n1', SNAPS[2]!);
  if (hs.some((h) => h.late > 0)) throw new Error('a closed stream is still watching the cache');
  for (const n of status.view()) {
    if (n.nodeId !== 'bystander' && n.streams !== 0) throw new Error(`node ${JSON.stringify(n.nodeId)} still counts ${n.streams} streams after every stream closed`);
    if (n.streams < 0) throw new Error('negative stream count');
  }
  if (status.connectedNodes() !== 1) throw new Error(`connected nodes ${status.connectedNodes()}, expected only the bystander`);
}

/** ADS (no fixed type) mostly, sometimes a single-type service (fixed < ALL_TYPES.length). */
const modes = fc.array(fc.record({ mode: fc.constantFrom('sotw' as const, 'delta' as const), fixed: fc.oneof({ weight: 3, arbitrary: fc.constant(ALL_TYPES.length) }, { weight: 1, arbitrary: fc.nat({ max: ALL_TYPES.length - 1 }) }) }), { minLength: 1, maxLength: 3 });

t.test('SotW and delta streams over malformed request sequences', async (t) => {
  await checkProperty(t, 'xDS request sequences', [fc.array(step, { minLength: 2, maxLength: 30, size: 'medium' }), modes], (steps, m) => runSteps(steps, m), { runs: 600 });
  if (selected('xDS request sequences') && fuzzSettings('xDS request sequences', 600).numRuns >= 200) t.ok(seen.responses > 100 && seen.refused > 10, `sequences exercised the streams: ${seen.responses} responses, ${seen.refused} refusals`);
});

t.test('well-formed sequences are answered (the property above is not vacuous)', async (t) => {
  const cache = new SnapshotCache();
  const status = new XdsStatus();
  cache.setDefault(SNAPS[0]!);
  const sent: DiscoveryResponse[] = [];
  const s = new SotwStream({ cache, status, logger: silentLogger, controlPlaneId: 'cp' }, (r) => sent.push(r));
  s.onRequest(DiscoveryRequest.fromPartial({ node: { id: 'n1', cluster: 'c' }, typeUrl: TYPE.cluster }));
  t.equal(sent.length, 1);
  t.equal(sent[0]!.versionInfo, SNAPS[0]!.resources[TYPE.cluster].version);
  s.onRequest(DiscoveryRequest.fromPartial({ typeUrl: TYPE.cluster, versionInfo: sent[0]!.versionInfo, responseNonce: sent[0]!.nonce }));
  t.equal(status.get('n1')?.types[TYPE.cluster]?.ackedVersion, sent[0]!.versionInfo);
  t.throws(() => new SotwStream({ cache, status, logger: silentLogger, controlPlaneId: 'cp' }, () => undefined).onRequest(DiscoveryRequest.fromPartial({ typeUrl: TYPE.cluster })), { code: 'MISSING_NODE' });
  const d: DeltaDiscoveryResponse[] = [];
  const ds = new DeltaStream({ cache, status, logger: silentLogger, controlPlaneId: 'cp', fixedType: TYPE.endpoint }, (r) => d.push(r));
  t.throws(() => ds.onRequest(DeltaDiscoveryRequest.fromPartial({ node: { id: 'n2' }, typeUrl: TYPE.cluster })), { code: 'UNKNOWN_TYPE' });
  ds.close();
  t.equal(status.get('n2')?.streams, 0, 'the refused stream is not counted once closed');
});
