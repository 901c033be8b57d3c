// What each node has: connected streams, the version it ACKed per type, the
// last NACK with Envoy's error_detail. Pure bookkeeping; transports and the
// HTTP status view read it, metrics subscribe to its events.

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

export class XdsStatus {
  private readonly nodes = new Map<string, NodeStatus & { modeCount: Map<StreamMode, number> }>();
  private readonly listeners = new Set<(e: XdsEvent) => void>();

  onEvent(l: (e: XdsEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private emit(e: XdsEvent): void {
    for (const l of this.listeners) l(e);
  }

  private node(nodeId: string, cluster = ''): NodeStatus & { modeCount: Map<StreamMode, number> } {
    let n = this.nodes.get(nodeId);
    if (!n) {
      // Bounded: forget the oldest disconnected node first.
      if (this.nodes.size >= MAX_NODES) {
        for (const [k, v] of this.nodes) if (v.streams === 0) { this.nodes.delete(k); break; }
      }
      const now = new Date().toISOString();
      n = { nodeId, cluster, streams: 0, modes: [], firstSeen: now, lastSeen: now, types: {}, modeCount: new Map() };
      this.nodes.set(nodeId, n);
    }
    if (cluster) n.cluster = cluster;
    n.lastSeen = new Date().toISOString();
    return n;
  }

  private type(nodeId: string, typeUrl: string): TypeStatus {
    const n = this.node(nodeId);
    return (n.types[typeUrl] ??= {});
  }

  connected(nodeId: string, cluster: string, mode: StreamMode): void {
    const n = this.node(nodeId, cluster);
    if (n.streams === 0) n.connectedSince = new Date().toISOString();
    n.streams++;
    n.modeCount.set(mode, (n.modeCount.get(mode) ?? 0) + 1);
    n.modes = [...n.modeCount.keys()];
    this.emit({ kind: 'connect', nodeId, mode });
  }

  disconnected(nodeId: string, mode: StreamMode): void {
    const n = this.node(nodeId);
    n.streams = Math.max(0, n.streams - 1);
    if (n.streams === 0) delete n.connectedSince;
    const c = (n.modeCount.get(mode) ?? 1) - 1;
    if (c <= 0) n.modeCount.delete(mode);
    else n.modeCount.set(mode, c);
    n.modes = [...n.modeCount.keys()];
    this.emit({ kind: 'disconnect', nodeId, mode });
  }

  sent(nodeId: string, mode: StreamMode, typeUrl: string, version: string, nonce: string, count: number): void {
    const t = this.type(nodeId, typeUrl);
    t.sentVersion = version;
    t.sentNonce = nonce;
    t.sentAt = new Date().toISOString();
    this.emit({ kind: 'push', nodeId, typeUrl, mode, count });
  }

  acked(nodeId: string, mode: StreamMode, typeUrl: string, version: string): void {
    const t = this.type(nodeId, typeUrl);
    t.ackedVersion = version;
    t.ackedAt = new Date().toISOString();
    this.node(nodeId).lastAckAt = t.ackedAt;
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
    t.sentAt = new Date().toISOString();
    this.acked(nodeId, mode, typeUrl, version);
  }

  nacked(nodeId: string, mode: StreamMode, typeUrl: string, rec: Omit<NackRecord, 'at'>): void {
    const t = this.type(nodeId, typeUrl);
    t.lastNack = { ...rec, at: new Date().toISOString() };
    this.emit({ kind: 'nack', nodeId, typeUrl, mode, version: rec.version, message: rec.message });
  }

  connectedNodes(): number {
    let c = 0;
    for (const n of this.nodes.values()) if (n.streams > 0) c++;
    return c;
  }

  get(nodeId: string): NodeStatus | undefined {
    const n = this.nodes.get(nodeId);
    return n ? strip(n) : undefined;
  }

  view(): NodeStatus[] {
    return [...this.nodes.values()].map(strip);
  }
}

function strip(n: NodeStatus & { modeCount?: unknown }): NodeStatus {
  const { modeCount: _m, ...rest } = n;
  return structuredClone(rest);
}
