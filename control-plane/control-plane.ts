// The control plane's state in one place: app config + dynamic routing +
// secrets -> snapshot -> cache. Every mutation builds and checks the whole next
// snapshot first; on any error nothing changes (fail closed, no partial state).
import type { Logger } from 'pino';
import { buildSnapshot, EMPTY_ROUTING, parseAppConfig, type AppConfig, type RoutingState } from './app-config.ts';
import { SecretStore, type SecretInput } from './secret-store.ts';
import { SnapshotCache, type NodeKeyFn } from './xds/cache.ts';
import { XdsStatus } from './xds/status.ts';
import type { Snapshot } from './xds/snapshot.ts';

interface State {
  app: AppConfig;
  routing: RoutingState;
  routingRevision: number;
  secrets: SecretStore;
}

export class ControlPlaneCore {
  readonly cache: SnapshotCache;
  readonly status = new XdsStatus();
  private state: State = { app: { plugins: [] }, routing: EMPTY_ROUTING, routingRevision: 0, secrets: new SecretStore() };
  private generation = 0;
  private snapshot?: Snapshot;

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

  /** Builds the snapshot for a candidate state without committing it. */
  check(next: Partial<State>): Snapshot {
    const s = { ...this.state, ...next };
    const label = `${s.app.revision ?? 'app'}/r${s.routingRevision}/g${this.generation + 1}`;
    return buildSnapshot(label, s.app, s.routing, s.secrets.toEnvoy());
  }

  private commit(next: Partial<State>): Snapshot {
    const snap = this.check(next);
    this.state = { ...this.state, ...next };
    this.generation++;
    this.snapshot = snap;
    this.cache.setDefault(snap);
    this.logger.info({ snapshot: snap.label, versions: Object.fromEntries(Object.entries(snap.resources).map(([t, r]) => [t.split('.').pop(), r.version])) }, 'snapshot published');
    return snap;
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
