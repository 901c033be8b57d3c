// Runtime edits of the routing state (routes and clusters of a `route`
// instance). Pure: each change returns a new state or throws; the caller
// builds a snapshot from it before anything is committed or replicated.
import { Type, type Static } from '@sinclair/typebox';
import { ControlPlaneError } from '../errors.ts';
import { ClusterSpec, RouteSpec } from './plugins/route.ts';
import type { RoutingState } from './app-config.ts';

export const RoutingChange = Type.Union([
  Type.Object({ op: Type.Literal('putCluster'), cluster: ClusterSpec }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('deleteCluster'), name: Type.String() }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('putRoute'), route: RouteSpec }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('deleteRoute'), name: Type.String() }, { additionalProperties: false }),
]);
export type RoutingChange = Static<typeof RoutingChange>;

export function applyRoutingChange(state: RoutingState, change: RoutingChange): RoutingState {
  switch (change.op) {
    case 'putCluster':
      return { ...state, clusters: [...state.clusters.filter((c) => c.name !== change.cluster.name), change.cluster] };
    case 'deleteCluster':
      if (!state.clusters.some((c) => c.name === change.name)) throw new ControlPlaneError('NOT_FOUND', `cluster "${change.name}" does not exist`);
      return { ...state, clusters: state.clusters.filter((c) => c.name !== change.name) };
    case 'putRoute':
      return { ...state, routes: [...state.routes.filter((r) => r.name !== change.route.name), change.route] };
    case 'deleteRoute':
      if (!state.routes.some((r) => r.name === change.name)) throw new ControlPlaneError('NOT_FOUND', `route "${change.name}" does not exist`);
      return { ...state, routes: state.routes.filter((r) => r.name !== change.name) };
  }
}
