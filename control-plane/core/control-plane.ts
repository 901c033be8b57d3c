// The control plane's state in one place: app config + dynamic routing +
// secrets -> snapshot -> cache. Every mutation builds and checks the whole next
// snapshot first; on any error nothing changes (fail closed, no partial state).
import type { Logger } from 'pino';
import { buildSnapshot, EMPTY_ROUTING, parseAppConfig, type AppConfig, type RoutingState } from './app-config.ts';
import { SecretStore, type SecretInput } from './secret-store.ts';
import { SnapshotCache, type NodeKeyFn } from './xds/cache.ts';
import { XdsStatus } from './xds/status.ts';
import type { Snapshot } from './xds/snapshot.ts';
import { ControlPlaneError } from '../errors.ts';

interface State {
  app: AppConfig;
  /** Node-specific app configs by node key; nodes without one get `app`. */
  nodeApps: ReadonlyMap<string, AppConfig>;
  routing: RoutingState;
  routingRevision: number;
  secrets: SecretStore;
}

export class ControlPlaneCore {
  readonly cache: SnapshotCache;
  readonly status = new XdsStatus();
  private state: State = { app: { plugins: [] }, nodeApps: new Map(), routing: EMPTY_ROUTING, routingRevision: 0, secrets: new SecretStore() };
  private generation = 0;
  private snapshot?: Snapshot;
  private nodeSnapshots = new Map<string, Snapshot>();

  constructor(
    private readonly logger: Logger,
    nodeKey?: NodeKeyFn,
  ) {
    this.cache = new SnapshotCache(nodeKey);
  }

  get app(): AppConfig {
    return structuredClone(this.state.app);
  }

  get routing(): RoutingState & { revision: number } {
    return { ...structuredClone(this.state.routing), revision: this.state.routingRevision };
  }

  get secrets(): SecretStore {
    return this.state.secrets;
  }

  get current(): Snapshot | undefined {
    return this.snapshot;
  }

  /** Builds the snapshots (default + per node) for a candidate state without committing them. */
  check(next: Partial<State>): Snapshot {
    return this.build(next).snap;
  }

  private build(next: Partial<State>): { snap: Snapshot; nodes: Map<string, Snapshot>; state: State } {
    const s = { ...this.state, ...next };
    const label = `${s.app.revision ?? 'app'}/r${s.routingRevision}/g${this.generation + 1}`;
    const secrets = s.secrets.toEnvoy();
    const snap = buildSnapshot(label, s.app, s.routing, secrets);
    const nodes = new Map<string, Snapshot>();
    for (const [key, app] of s.nodeApps) {
      // Dynamic routes join a node's own config only if it has a `route` instance.
      nodes.set(key, buildSnapshot(`${key}:${app.revision ?? 'app'}/r${s.routingRevision}/g${this.generation + 1}`, app, s.routing, secrets, { requireDynamicTarget: false }));
    }
    return { snap, nodes, state: s };
  }

  private commit(next: Partial<State>): Snapshot {
    const { snap, nodes, state } = this.build(next);
    const previousKeys = [...this.state.nodeApps.keys()];
    this.state = state;
    this.generation++;
    this.snapshot = snap;
    this.nodeSnapshots = nodes;
    this.cache.setDefault(snap);
    for (const k of previousKeys) if (!nodes.has(k)) this.cache.delete(k);
    for (const [k, v] of nodes) this.cache.set(k, v);
    this.logger.info({ snapshot: snap.label, nodeSnapshots: nodes.size, versions: Object.fromEntries(Object.entries(snap.resources).map(([t, r]) => [t.split('.').pop(), r.version])) }, 'snapshot published');
    return snap;
  }

  /** Node keys with their own app config, and their snapshot labels. */
  nodeSnapshotLabels(): Record<string, string> {
    return Object.fromEntries([...this.nodeSnapshots].map(([k, v]) => [k, v.label]));
  }

  nodeApp(key: string): AppConfig | undefined {
    const a = this.state.nodeApps.get(key);
    return a ? structuredClone(a) : undefined;
  }

  /** Sets (or with `undefined` removes) the app config of one node key. */
  setNodeAppConfig(key: string, input: unknown | undefined): Snapshot {
    const nodeApps = new Map(this.state.nodeApps);
    if (input === undefined) {
      if (!nodeApps.delete(key)) throw new ControlPlaneError('NOT_FOUND', `node "${key}" has no app config of its own`);
    } else {
      nodeApps.set(key, parseAppConfig(input));
    }
    this.commit({ nodeApps });
    return this.nodeSnapshots.get(key) ?? this.snapshot!;
  }

  setAppConfig(input: unknown): Snapshot {
    return this.commit({ app: parseAppConfig(input) });
  }

  setRouting(routing: RoutingState, revision: number): Snapshot {
    return this.commit({ routing, routingRevision: revision });
  }

  setSecret(name: string, input: SecretInput): Snapshot {
    return this.commit({ secrets: this.state.secrets.with(name, input) });
  }

  deleteSecret(name: string): Snapshot {
    return this.commit({ secrets: this.state.secrets.with(name, undefined) });
  }
}
