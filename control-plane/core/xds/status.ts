// What each node has: connected streams, the version it ACKed per type, the
// last NACK with Envoy's error_detail. Pure bookkeeping; transports and the
// HTTP status view read it, metrics subscribe to its events.
//
// Every xDS event lands here (thousands per change at 10,000 nodes), so the
// hot path only stores numbers: times are Date.now() milliseconds, formatted as
// ISO strings when a view is taken (get, view); the connected-node count is kept
// as a counter; the bound on tracked nodes evicts in O(log n).

export type XdsEvent =
  | { kind: 'push'; nodeId: string; typeUrl: string; mode: StreamMode; count: number }
  | { kind: 'ack'; nodeId: string; typeUrl: string; mode: StreamMode; version: string }
  | { kind: 'nack'; nodeId: string; typeUrl: string; mode: StreamMode; version: string; message: string }
  | { kind: 'connect' | 'disconnect'; nodeId: string; mode: StreamMode };

export type StreamMode = 'sotw' | 'delta' | 'fetch';

export interface NackRecord {
  /** The version Envoy refused. */
  version: string;
  nonce: string;
  /** Envoy's error_detail message. */
  message: string;
  code: number;
  at: string;
}

export interface TypeStatus {
  sentVersion?: string;
  sentNonce?: string;
  sentAt?: string;
  ackedVersion?: string;
  ackedAt?: string;
  lastNack?: NackRecord;
}

export interface NodeStatus {
  nodeId: string;
  cluster: string;
  /** Open streams right now. */
  streams: number;
  modes: StreamMode[];
  firstSeen: string;
  lastSeen: string;
  /** Since when the node has had at least one open stream (absent while disconnected). */
  connectedSince?: string;
  /** The latest ACK of any type. */
  lastAckAt?: string;
  types: Record<string, TypeStatus>;
}

const MAX_NODES = 10_000;

/** TypeStatus as stored: times in epoch milliseconds. */
interface TypeRecord {
  sentVersion?: string;
  sentNonce?: string;
  sentAt?: number;
  ackedVersion?: string;
  ackedAt?: number;
  lastNack?: { version: string; nonce: string; message: string; code: number; at: number };
}

/** NodeStatus as stored: times in epoch milliseconds, plus the bookkeeping the view leaves out. */
interface NodeRecord {
  nodeId: string;
  cluster: string;
  streams: number;
  modes: StreamMode[];
  firstSeen: number;
  lastSeen: number;
  connectedSince?: number;
  lastAckAt?: number;
  types: Record<string, TypeRecord>;
  modeCount: Map<StreamMode, number>;
  /** Insertion order: the eviction forgets the first-seen disconnected node first. */
  seq: number;
  /** Whether the node has an entry in the idle heap (every node without a stream has one). */
  inIdleHeap: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class XdsStatus {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly listeners = new Set<(e: XdsEvent) => void>();
  /** Nodes with at least one open stream. */
  private connectedCount = 0;
  private nextSeq = 0;
  /**
   * Min-heap by seq of the nodes that may be idle (streams === 0): every idle
   * node is in it, a node that connected since stays until it reaches the top
   * (then it is dropped, and pushed again when it next goes idle).
   */
  private readonly idle: NodeRecord[] = [];

  onEvent(l: (e: XdsEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private emit(e: XdsEvent): void {
    for (const l of this.listeners) l(e);
  }

  private node(nodeId: string, cluster = ''): NodeRecord {
    const now = Date.now();
    let n = this.nodes.get(nodeId);
    if (!n) {
      // Bounded: forget the oldest (first seen) disconnected node first.
      if (this.nodes.size >= MAX_NODES) this.evictIdle();
      n = { nodeId, cluster, streams: 0, modes: [], firstSeen: now, lastSeen: now, types: {}, modeCount: new Map(), seq: this.nextSeq++, inIdleHeap: false };
      this.nodes.set(nodeId, n);
      this.pushIdle(n);
    }
    if (cluster) n.cluster = cluster;
    n.lastSeen = now;
    return n;
  }

  private type(nodeId: string, typeUrl: string): TypeRecord {
    const n = this.node(nodeId);
    return (n.types[typeUrl] ??= {});
  }

  connected(nodeId: string, cluster: string, mode: StreamMode): void {
    const n = this.node(nodeId, cluster);
    if (n.streams === 0) {
      n.connectedSince = n.lastSeen;
      this.connectedCount++;
    }
    n.streams++;
    n.modeCount.set(mode, (n.modeCount.get(mode) ?? 0) + 1);
    n.modes = [...n.modeCount.keys()];
    this.emit({ kind: 'connect', nodeId, mode });
  }

  disconnected(nodeId: string, mode: StreamMode): void {
    const n = this.node(nodeId);
    if (n.streams > 0) {
      n.streams--;
      if (n.streams === 0) {
        this.connectedCount--;
        this.pushIdle(n);
      }
    }
    if (n.streams === 0) delete n.connectedSince;
    const c = (n.modeCount.get(mode) ?? 1) - 1;
    if (c <= 0) n.modeCount.delete(mode);
    else n.modeCount.set(mode, c);
    n.modes = [...n.modeCount.keys()];
    this.emit({ kind: 'disconnect', nodeId, mode });
  }

  sent(nodeId: string, mode: StreamMode, typeUrl: string, version: string, nonce: string, count: number): void {
    const n = this.node(nodeId);
    const t = (n.types[typeUrl] ??= {});
    t.sentVersion = version;
    t.sentNonce = nonce;
    t.sentAt = n.lastSeen;
    this.emit({ kind: 'push', nodeId, typeUrl, mode, count });
  }

  acked(nodeId: string, mode: StreamMode, typeUrl: string, version: string): void {
    const n = this.node(nodeId);
    const t = (n.types[typeUrl] ??= {});
    t.ackedVersion = version;
    t.ackedAt = n.lastSeen;
    n.lastAckAt = n.lastSeen;
    this.emit({ kind: 'ack', nodeId, typeUrl, mode, version });
  }

  /**
   * A reconnecting node already holds `version` (e.g. after a control-plane
   * restart), so nothing is resent: the stream counts it as sent and ACKed, and
   * the status says so (not "ACKed, never sent"). No push event: nothing went out.
   */
  resumed(nodeId: string, mode: StreamMode, typeUrl: string, version: string): void {
    const t = this.type(nodeId, typeUrl);
    t.sentVersion = version;
    delete t.sentNonce;
    t.sentAt = Date.now();
    this.acked(nodeId, mode, typeUrl, version);
  }

  nacked(nodeId: string, mode: StreamMode, typeUrl: string, rec: Omit<NackRecord, 'at'>): void {
    const t = this.type(nodeId, typeUrl);
    t.lastNack = { version: rec.version, nonce: rec.nonce, message: rec.message, code: rec.code, at: Date.now() };
    this.emit({ kind: 'nack', nodeId, typeUrl, mode, version: rec.version, message: rec.message });
  }

  /** Nodes with at least one open stream (a counter: metrics read it on every connect and disconnect). */
  connectedNodes(): number {
    return this.connectedCount;
  }

  get(nodeId: string): NodeStatus | undefined {
    const n = this.nodes.get(nodeId);
    return n ? render(n) : undefined;
  }

  view(): NodeStatus[] {
    const out: NodeStatus[] = [];
    for (const n of this.nodes.values()) out.push(render(n));
    return out;
  }

  /** Forgets the first-seen node without a stream, if there is one. */
  private evictIdle(): void {
    while (this.idle.length) {
      const n = this.popIdle();
      n.inIdleHeap = false;
      if (this.nodes.get(n.nodeId) !== n) continue;
      if (n.streams > 0) continue; // connected again: back in the heap when it next goes idle
      this.nodes.delete(n.nodeId);
      return;
    }
  }

  private pushIdle(n: NodeRecord): void {
    if (n.inIdleHeap) return;
    n.inIdleHeap = true;
    const h = this.idle;
    let i = h.push(n) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.seq <= n.seq) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = n;
  }

  private popIdle(): NodeRecord {
    const h = this.idle;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r]!.seq < h[l]!.seq ? r : l;
        if (h[c]!.seq >= last.seq) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

/** The view of a node: a copy, times as ISO strings (fields absent when never set, as before). */
function render(n: NodeRecord): NodeStatus {
  const types: Record<string, TypeStatus> = {};
  for (const k of Object.keys(n.types)) {
    const t = n.types[k]!;
    const o: TypeStatus = {};
    if ('sentVersion' in t) o.sentVersion = t.sentVersion;
    if ('sentNonce' in t) o.sentNonce = t.sentNonce;
    if (t.sentAt !== undefined) o.sentAt = iso(t.sentAt);
    if ('ackedVersion' in t) o.ackedVersion = t.ackedVersion;
    if (t.ackedAt !== undefined) o.ackedAt = iso(t.ackedAt);
    if (t.lastNack) o.lastNack = { version: t.lastNack.version, nonce: t.lastNack.nonce, message: t.lastNack.message, code: t.lastNack.code, at: iso(t.lastNack.at) };
    types[k] = o;
  }
  const out: NodeStatus = { nodeId: n.nodeId, cluster: n.cluster, streams: n.streams, modes: [...n.modes], firstSeen: iso(n.firstSeen), lastSeen: iso(n.lastSeen), types };
  if (n.connectedSince !== undefined) out.connectedSince = iso(n.connectedSince);
  if (n.lastAckAt !== undefined) out.lastAckAt = iso(n.lastAckAt);
  return out;
}
