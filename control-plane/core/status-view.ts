// The status document served as JSON (and rendered by the status page): what
// the control plane publishes and what each node has ACKed or NACKed.
import type { ControlPlaneCore } from './control-plane.ts';
import type { RoutingSync, ReplicationInfo } from './routing-sync.ts';
import type { NodeStatus } from './xds/status.ts';
import type { SecretInfo } from './secret-store.ts';
import type { CmDecisionsView } from './cm-decisions.ts';
import type { ServiceHealth } from './service-health.ts';

export interface StatusDocument {
  controlPlaneId: string;
  generatedAt: string;
  snapshot: { label: string; versions: Record<string, string>; counts: Record<string, number> } | null;
  /** Node keys with their own app config -> snapshot label. */
  nodeSnapshots: Record<string, string>;
  connectedNodes: number;
  nodes: NodeStatus[];
  secrets: SecretInfo[];
  routing: { revision: number; routes: number; clusters: number };
  replication: ReplicationInfo;
  /** Recent capsule-manager decisions (null when `capsuleManager` is not configured). */
  cmDecisions: CmDecisionsView | null;
  /** Health of the watched services (null when `services` is not configured). */
  services: ServiceHealth[] | null;
  /** Communication groups served from config (null when `groups` is not configured). */
  groups: GroupView[] | null;
}

/** A configured group as the status shows it (never key material). */
export interface GroupView {
  name: string;
  state: 'pending' | 'active' | 'denied' | 'failing' | 'stopped';
  groupUriPrefix?: string;
  notAfter?: string;
  rotations: number;
  failures: number;
  lastError?: string;
}

/** What the status view shows beside the core's own state. */
export interface StatusSources {
  cmDecisions?: () => CmDecisionsView;
  services?: () => ServiceHealth[];
  groups?: () => GroupView[];
}

export function statusDocument(id: string, core: ControlPlaneCore, sync: RoutingSync, sources: StatusSources = {}): StatusDocument {
  const snap = core.current;
  const routing = core.routing;
  return {
    controlPlaneId: id,
    generatedAt: new Date().toISOString(),
    snapshot: snap
      ? {
          label: snap.label,
          versions: Object.fromEntries(Object.entries(snap.resources).map(([t, r]) => [t, r.version])),
          counts: Object.fromEntries(Object.entries(snap.resources).map(([t, r]) => [t, r.items.size])),
        }
      : null,
    nodeSnapshots: core.nodeSnapshotLabels(),
    connectedNodes: core.status.connectedNodes(),
    nodes: core.status.view(),
    secrets: core.secrets.list(),
    routing: { revision: routing.revision, routes: routing.routes.length, clusters: routing.clusters.length },
    replication: sync.info(),
    cmDecisions: sources.cmDecisions ? sources.cmDecisions() : null,
    services: sources.services ? sources.services() : null,
    groups: sources.groups ? sources.groups() : null,
  };
}
