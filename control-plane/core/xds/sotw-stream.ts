// State-of-the-world xDS for one stream (ADS or a single-type service): owns
// nonces, version_info and ACK/NACK. Transport-free: it receives decoded
// requests and hands responses to `send`.
// https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#ack-nack-and-resource-type-instance-version
import type { DiscoveryRequest, DiscoveryResponse } from '../../../proto/gen/envoy/service/discovery/v3/discovery.ts';
import type { Snapshot, XdsResource } from './snapshot.ts';
import { PUSH_ORDER, TYPE, WILDCARD_TYPES, type TypeUrl } from './type-urls.ts';
import { XdsStream, type StreamOptions } from './stream-common.ts';
import { encodedSotw, withNonce } from './encoded-responses.ts';

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  /** version_info of the last response on this stream. */
  sentVersion?: string;
  nonce?: string;
  /** name -> resource version last sent (clusters only: to spot updated ones). */
  sentItems?: Map<string, string>;
  /** Resend even at the same version (endpoints of a re-warming cluster). */
  force?: boolean;
}

export class SotwStream extends XdsStream<TypeState> {
  constructor(
    opts: StreamOptions,
    /** `encoded`: the response's protobuf encoding, for a transport that writes bytes. */
    private readonly send: (r: DiscoveryResponse, encoded: Uint8Array) => void,
  ) {
    super(opts, 'sotw');
  }

  onRequest(req: DiscoveryRequest): void {
    const accepted = this.accept(req);
    if (!accepted) return;
    const { node, typeUrl } = accepted;
    let st = this.types.get(typeUrl);
    const isNew = !st;
    if (!st) this.types.set(typeUrl, (st = { wildcard: false, names: new Set() }));

    if (req.responseNonce) {
      // A response to anything but our latest nonce is stale: a newer response
      // is already on its way, Envoy will answer that one.
      if (req.responseNonce !== st.nonce) return;
      if (req.errorDetail) {
        this.opts.status.nacked(node.id, 'sotw', typeUrl, {
          version: st.sentVersion ?? '',
          nonce: req.responseNonce,
          message: req.errorDetail.message,
          code: req.errorDetail.code,
        });
        this.log.warn({ typeUrl, version: st.sentVersion, keptVersion: req.versionInfo, error: req.errorDetail.message }, 'Envoy NACKed a response; it keeps its last good config');
      } else {
        this.opts.status.acked(node.id, 'sotw', typeUrl, req.versionInfo);
      }
    }

    const names = new Set(req.resourceNames);
    const wildcard = names.has('*') || (WILDCARD_TYPES.has(typeUrl) && names.size === 0);
    names.delete('*');
    const changed = isNew || wildcard !== st.wildcard || !sameNames(names, st.names);
    st.wildcard = wildcard;
    st.names = names;

    const snap = this.opts.cache.get(this.opts.cache.nodeKey(node));
    const current = snap.resources[typeUrl].version;
    if (isNew && !req.responseNonce && req.versionInfo && req.versionInfo === current) {
      // A reconnecting Envoy that already has this exact version (e.g. after a
      // control-plane restart) needs no resend.
      st.sentVersion = current;
      this.opts.status.resumed(node.id, 'sotw', typeUrl, current);
      return;
    }
    if (changed || st.sentVersion !== current) {
      this.respond(typeUrl, st, snap);
      this.flushForced(snap);
    }
  }

  private flushForced(snap: Snapshot): void {
    const eds = this.types.get(TYPE.endpoint);
    if (eds?.force) this.respond(TYPE.endpoint, eds, snap);
  }

  protected onSnapshot(snap: Snapshot): void {
    if (this.closed) return;
    for (const t of PUSH_ORDER) {
      const st = this.types.get(t);
      if (st && (st.force || st.sentVersion !== snap.resources[t].version)) this.respond(t, st, snap);
    }
  }

  private respond(typeUrl: TypeUrl, st: TypeState, snap: Snapshot): void {
    const set = snap.resources[typeUrl];
    // Encoded once per version and subscription, shared by every stream; only the nonce is ours.
    const enc = encodedSotw(typeUrl, set, st.wildcard ? undefined : st.names, this.opts.controlPlaneId);
    const nonce = this.nextNonce();
    st.sentVersion = set.version;
    st.nonce = nonce;
    st.force = false;
    if (typeUrl === TYPE.cluster) this.noteClusters(st, enc.items);
    this.send({ ...enc.message, nonce }, withNonce(enc.bytes, nonce));
    this.opts.status.sent(this.node!.id, 'sotw', typeUrl, set.version, nonce, enc.items.length);
    this.log.debug({ typeUrl, version: set.version, nonce, count: enc.items.length }, 'sotw push');
  }

  /**
   * Envoy re-warms an updated EDS cluster and waits for its endpoints again
   * (up to initial_fetch_timeout), even if they did not change: so the next
   * EDS response goes out even at the same version.
   */
  private noteClusters(st: TypeState, items: readonly XdsResource[]): void {
    const prev = st.sentItems;
    st.sentItems = new Map(items.map((r) => [r.name, r.version]));
    if (!prev) return;
    const eds = this.types.get(TYPE.endpoint);
    if (eds && items.some((r) => r.edsName && prev.has(r.name) && prev.get(r.name) !== r.version)) eds.force = true;
  }
}

function sameNames(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const n of a) if (!b.has(n)) return false;
  return true;
}
