// Incremental (delta) xDS for one stream: per-resource versions, subscribe /
// unsubscribe, wildcard, removals. Transport-free like SotwStream.
// https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#incremental-xds
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from '../../../proto/gen/envoy/service/discovery/v3/discovery.ts';
import type { Snapshot, XdsResource } from './snapshot.ts';
import { PUSH_ORDER, TYPE, WILDCARD_TYPES, type TypeUrl } from './type-urls.ts';
import { XdsStream, type StreamOptions } from './stream-common.ts';
import { encodedDelta, withNonce } from './encoded-responses.ts';

interface DeltaTypeState {
  wildcard: boolean;
  names: Set<string>;
  /** name -> version the client has (as far as we know). */
  known: Map<string, string>;
  /** nonce -> system version of responses not yet answered. */
  pending: Map<string, string>;
  responded: boolean;
  /**
   * The type's set version that `known` is up to date with for upserts: every
   * subscribed resource of that set is in `known` at its version. Cleared when
   * the subscription or `known` changes outside a push.
   */
  upsertedAt?: string;
  /** Likewise for removals: `known` holds nothing that set lacks or that is unsubscribed. */
  removedAt?: string;
}

const REVERSE_PUSH_ORDER: readonly TypeUrl[] = [...PUSH_ORDER].reverse();
const NONE: never[] = [];

export class DeltaStream extends XdsStream<DeltaTypeState> {
  constructor(
    opts: StreamOptions,
    /** `encoded`: the response's protobuf encoding, for a transport that writes bytes. */
    private readonly send: (r: DeltaDiscoveryResponse, encoded: Uint8Array) => void,
  ) {
    super(opts, 'delta');
  }

  onRequest(req: DeltaDiscoveryRequest): void {
    const accepted = this.accept(req);
    if (!accepted) return;
    const { node, typeUrl } = accepted;
    let st = this.types.get(typeUrl);
    if (!st) {
      st = {
        // Legacy wildcard: a first LDS/CDS request that names nothing wants everything.
        wildcard: WILDCARD_TYPES.has(typeUrl) && req.resourceNamesSubscribe.length === 0,
        names: new Set(),
        known: new Map(Object.entries(req.initialResourceVersions ?? {})),
        pending: new Map(),
        responded: false,
      };
      this.types.set(typeUrl, st);
    }

    if (req.responseNonce) {
      const version = st.pending.get(req.responseNonce);
      st.pending.delete(req.responseNonce);
      if (version !== undefined) {
        if (req.errorDetail) {
          this.opts.status.nacked(node.id, 'delta', typeUrl, { version, nonce: req.responseNonce, message: req.errorDetail.message, code: req.errorDetail.code });
          this.log.warn({ typeUrl, version, error: req.errorDetail.message }, 'Envoy NACKed a delta response; it keeps its last good config');
        } else {
          this.opts.status.acked(node.id, 'delta', typeUrl, version);
        }
      }
    }

    if (req.resourceNamesSubscribe.length || req.resourceNamesUnsubscribe.length) {
      // The subscription changes: what is to be sent must be worked out again.
      st.upsertedAt = st.removedAt = undefined;
      for (const n of req.resourceNamesSubscribe) {
        if (n === '*') st.wildcard = true;
        else st.names.add(n);
      }
      for (const n of req.resourceNamesUnsubscribe) {
        if (n === '*') st.wildcard = false;
        else {
          st.names.delete(n);
          // Forget what the client had so a later re-subscription sends it again.
          st.known.delete(n);
        }
      }
    }
    const snap = this.opts.cache.get(this.opts.cache.nodeKey(node));
    this.push(typeUrl, st, snap, !st.responded);
    const eds = this.types.get(TYPE.endpoint);
    if (typeUrl === TYPE.cluster && eds) this.push(TYPE.endpoint, eds, snap, false, 'upserts');
  }

  protected onSnapshot(snap: Snapshot): void {
    if (this.closed) return;
    // Make before break: additions and updates go out in warming order
    // (clusters before the routes that use them); removals afterwards in reverse
    // order (routes stop using a cluster before the cluster goes away).
    for (const t of PUSH_ORDER) {
      const st = this.types.get(t);
      if (st) this.push(t, st, snap, false, 'upserts');
    }
    for (const t of REVERSE_PUSH_ORDER) {
      const st = this.types.get(t);
      if (st) this.push(t, st, snap, false, 'removals');
    }
  }

  private push(typeUrl: TypeUrl, st: DeltaTypeState, snap: Snapshot, force: boolean, phase: 'all' | 'upserts' | 'removals' = 'all'): void {
    const set = snap.resources[typeUrl];
    const upserts = phase !== 'removals';
    const removals = phase !== 'upserts';
    // Nothing to send when the stream already has this version of the type under
    // its current subscription (a change of one type leaves the others alone).
    if (!force && (!upserts || st.upsertedAt === set.version) && (!removals || st.removedAt === set.version)) return;
    const changed = upserts ? changedItems(set.items, st) : NONE;
    const removed = removals ? removedNames(set.items, st) : NONE;
    if (upserts) st.upsertedAt = set.version;
    if (removals) st.removedAt = set.version;
    // The first answer per type is sent even if empty: Envoy's initialisation
    // waits for it (otherwise until initial_fetch_timeout).
    if (!changed.length && !removed.length && !force) return;
    const nonce = this.nextNonce();
    if (typeUrl === TYPE.cluster) {
      // Envoy re-warms an updated EDS cluster and waits for its endpoints again
      // (up to initial_fetch_timeout) even if they did not change: forget that
      // the client has them so the EDS push that follows includes them.
      const eds = this.types.get(TYPE.endpoint);
      if (eds)
        for (const r of changed)
          if (r.edsName && st.known.has(r.name) && eds.known.delete(r.edsName)) eds.upsertedAt = undefined;
    }
    for (const r of changed) st.known.set(r.name, r.version);
    for (const n of removed) st.known.delete(n);
    st.pending.set(nonce, set.version);
    // Envoy answers every nonce; bound the map anyway against a client that does not.
    if (st.pending.size > 32) st.pending.delete(st.pending.keys().next().value!);
    st.responded = true;
    // Encoded once for every stream sent the same resources of this version; only the nonce is ours.
    const enc = encodedDelta(typeUrl, set, changed, removed, this.opts.controlPlaneId);
    this.send({ ...enc.message, nonce }, withNonce(enc.bytes, nonce));
    this.opts.status.sent(this.node!.id, 'delta', typeUrl, set.version, nonce, changed.length);
    this.log.debug({ typeUrl, version: set.version, nonce, changed: changed.length, removed: removed.length }, 'delta push');
  }
}

/** The subscribed resources of a set the client does not have at their version. */
function changedItems(items: ReadonlyMap<string, XdsResource>, st: DeltaTypeState): XdsResource[] {
  const out: XdsResource[] = [];
  for (const r of items.values()) if ((st.wildcard || st.names.has(r.name)) && st.known.get(r.name) !== r.version) out.push(r);
  return out;
}

/** What the client has that the set lacks or that is no longer subscribed. */
function removedNames(items: ReadonlyMap<string, XdsResource>, st: DeltaTypeState): string[] {
  const out: string[] = [];
  for (const n of st.known.keys()) if (!items.has(n) || !(st.wildcard || st.names.has(n))) out.push(n);
  return out;
}
