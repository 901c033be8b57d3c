// Per-node snapshot cache behind one watch interface (go-control-plane's
// ConfigWatcher): streams watch a node key and are told when the snapshot that
// applies to it changes. A node without its own snapshot gets the default one.
import { EMPTY_SNAPSHOT, type Snapshot } from './snapshot.ts';

export type NodeKeyFn = (node: { id: string; cluster: string }) => string;
export const byNodeId: NodeKeyFn = (n) => n.id;
export const byNodeCluster: NodeKeyFn = (n) => n.cluster;

type Watcher = (snap: Snapshot) => void;

export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private defaultSnapshot: Snapshot = EMPTY_SNAPSHOT;
  private readonly watchers = new Map<string, Set<Watcher>>();

  constructor(readonly nodeKey: NodeKeyFn = byNodeId) {}

  get(key: string): Snapshot {
    return this.snapshots.get(key) ?? this.defaultSnapshot;
  }

  /** Sets the snapshot of one node key and notifies that node's streams. */
  set(key: string, snap: Snapshot): void {
    this.snapshots.set(key, snap);
    this.notify(key);
  }

  delete(key: string): void {
    if (this.snapshots.delete(key)) this.notify(key);
  }

  /** Sets the snapshot for every node without its own, and notifies them. */
  setDefault(snap: Snapshot): void {
    this.defaultSnapshot = snap;
    for (const key of this.watchers.keys()) if (!this.snapshots.has(key)) this.notify(key);
  }

  getDefault(): Snapshot {
    return this.defaultSnapshot;
  }

  watch(key: string, w: Watcher): () => void {
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(w);
    return () => {
      set.delete(w);
      if (set.size === 0) this.watchers.delete(key);
    };
  }

  keys(): string[] {
    return [...this.snapshots.keys()];
  }

  private notify(key: string): void {
    const snap = this.get(key);
    for (const w of [...(this.watchers.get(key) ?? [])]) w(snap);
  }
}
