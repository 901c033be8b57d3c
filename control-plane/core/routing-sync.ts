// How routing changes reach the state: directly (one replica) or through a
// replicated log (NATS KV, transport/nats-routing.ts). Either way a change is
// validated by building the next snapshot before it is accepted.
import type { RoutingState } from './app-config.ts';
import type { ControlPlaneCore } from './control-plane.ts';
import { applyRoutingChange, type RoutingChange } from './routing.ts';

export interface ReplicationInfo {
  mode: 'local' | 'nats';
  bucket?: string;
  key?: string;
  appliedRevision: number;
  lastError?: { message: string; revision: number; at: string };
}

export interface RoutingSync {
  propose(change: RoutingChange): Promise<RoutingState & { revision: number }>;
  info(): ReplicationInfo;
  close(): Promise<void>;
}

export class LocalRoutingSync implements RoutingSync {
  constructor(private readonly core: ControlPlaneCore) {}

  async propose(change: RoutingChange): Promise<RoutingState & { revision: number }> {
    const cur = this.core.routing;
    const { revision, ...state } = cur;
    this.core.setRouting(applyRoutingChange(state, change), revision + 1);
    return this.core.routing;
  }

  info(): ReplicationInfo {
    return { mode: 'local', appliedRevision: this.core.routing.revision };
  }

  async close(): Promise<void> {}
}
