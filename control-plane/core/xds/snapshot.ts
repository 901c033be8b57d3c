// An immutable, internally consistent set of xDS resources for one node (or the
// default for all nodes). Building one runs the consistency check: a snapshot
// whose listeners name a missing route configuration, whose routes name a
// missing cluster, whose EDS clusters lack endpoints or whose TLS contexts name
// a missing SDS secret is refused, so Envoy never receives dangling references.
import { createHash } from 'node:crypto';
import type { Any } from '../../../proto/gen/google/protobuf/any.ts';
import { Cluster, Cluster_DiscoveryType } from '../../../proto/gen/envoy/config/cluster/v3/cluster.ts';
import { ClusterLoadAssignment } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint.ts';
import { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener.ts';
import { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route.ts';
import { Secret } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret.ts';
import type { HttpConnectionManager } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.ts';
import type { TcpProxy } from '../../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.ts';
import type { DownstreamTlsContext, UpstreamTlsContext, CommonTlsContext } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls.ts';
import type { TransportSocket } from '../../../proto/gen/envoy/config/core/v3/base.ts';
import { ControlPlaneError } from '../../errors.ts';
import { PUSH_ORDER, TYPE, pack, unpack, type TypeUrl } from './type-urls.ts';

export interface XdsResource {
  name: string;
  any: Any;
  /** Content hash: the per-resource version of delta xDS. */
  version: string;
  /** For an EDS cluster: the ClusterLoadAssignment name it needs. */
  edsName?: string;
}

export interface ResourceSet {
  /** Hash over the whole set: the SotW version_info for this type. */
  version: string;
  items: ReadonlyMap<string, XdsResource>;
}

export interface Snapshot {
  /** A label for logs and status (e.g. the app config revision). */
  label: string;
  resources: Readonly<Record<TypeUrl, ResourceSet>>;
}

/** Partial messages (as ts-proto's fromPartial takes them); missing fields get proto defaults. */
export type DeepPartial<T> = T extends Buffer | Uint8Array ? T : T extends Array<infer U> ? Array<DeepPartial<U>> : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

export interface SnapshotInput {
  clusters?: DeepPartial<Cluster>[];
  endpoints?: DeepPartial<ClusterLoadAssignment>[];
  listeners?: DeepPartial<Listener>[];
  routes?: DeepPartial<RouteConfiguration>[];
  secrets?: DeepPartial<Secret>[];
}

function hash(b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 16);
}

function toSet(typeUrl: TypeUrl, items: Array<{ name: string; msg: unknown; edsName?: string }>, errors: string[]): ResourceSet {
  const map = new Map<string, XdsResource>();
  for (const { name, msg, edsName } of items) {
    if (!name) {
      errors.push(`${typeUrl.split('.').pop()}: a resource has an empty name`);
      continue;
    }
    if (map.has(name)) errors.push(`${typeUrl.split('.').pop()} "${name}" is defined twice`);
    const any = pack(typeUrl, msg);
    map.set(name, { name, any, version: hash(any.value), ...(edsName ? { edsName } : {}) });
  }
  const sorted = new Map([...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const version = hash([...sorted.values()].map((r) => `${r.name}=${r.version}`).join(';'));
  return { version, items: sorted };
}

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const DTLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UTLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

const GRPC_FILTERS = new Set([
  'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz',
  'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
  'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
]);

function sdsNames(ctx: CommonTlsContext | undefined): string[] {
  if (!ctx) return [];
  const names = ctx.tlsCertificateSdsSecretConfigs.map((c) => c.name);
  if (ctx.validationContextSdsSecretConfig) names.push(ctx.validationContextSdsSecretConfig.name);
  const combined = ctx.combinedValidationContext?.validationContextSdsSecretConfig;
  if (combined) names.push(combined.name);
  return names;
}

function transportSecrets(ts: TransportSocket | undefined): string[] {
  const tc = ts?.typedConfig;
  if (!tc) return [];
  if (tc.typeUrl === DTLS) return sdsNames((unpack(tc) as DownstreamTlsContext).commonTlsContext);
  if (tc.typeUrl === UTLS) return sdsNames((unpack(tc) as UpstreamTlsContext).commonTlsContext);
  return [];
}

/** A listener's filter chains, its default chain included. */
const chains = (l: Listener) => (l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains);

function routeClusters(rc: Pick<RouteConfiguration, 'virtualHosts'>): string[] {
  const out: string[] = [];
  for (const vh of rc.virtualHosts)
    for (const r of vh.routes) {
      const a = r.route;
      if (!a) continue;
      if (a.cluster) out.push(a.cluster);
      for (const w of a.weightedClusters?.clusters ?? []) out.push(w.name);
    }
  return out;
}

/** Builds a snapshot; throws INCONSISTENT_SNAPSHOT listing every problem at once. */
export function createSnapshot(label: string, input: SnapshotInput): Snapshot {
  const errors: string[] = [];
  const clusters = (input.clusters ?? []).map((c) => Cluster.fromPartial(c as never));
  const endpoints = (input.endpoints ?? []).map((e) => ClusterLoadAssignment.fromPartial(e as never));
  const listeners = (input.listeners ?? []).map((l) => Listener.fromPartial(l as never));
  const routes = (input.routes ?? []).map((r) => RouteConfiguration.fromPartial(r as never));
  const secrets = (input.secrets ?? []).map((s) => Secret.fromPartial(s as never));

  const clusterNames = new Set(clusters.map((c) => c.name));
  const endpointNames = new Set(endpoints.map((e) => e.clusterName));
  const routeNames = new Set(routes.map((r) => r.name));
  const secretNames = new Set(secrets.map((s) => s.name));

  for (const c of clusters) {
    if (c.type === Cluster_DiscoveryType.EDS) {
      const svc = c.edsClusterConfig?.serviceName || c.name;
      if (!endpointNames.has(svc)) errors.push(`cluster "${c.name}" uses EDS but no endpoints "${svc}" exist`);
    }
    for (const s of transportSecrets(c.transportSocket)) if (!secretNames.has(s)) errors.push(`cluster "${c.name}" references missing secret "${s}"`);
  }
  for (const r of routes)
    for (const c of routeClusters(r)) if (!clusterNames.has(c)) errors.push(`route configuration "${r.name}" references missing cluster "${c}"`);
  for (const l of listeners) {
    for (const fc of chains(l)) {
      for (const s of transportSecrets(fc.transportSocket)) if (!secretNames.has(s)) errors.push(`listener "${l.name}" references missing secret "${s}"`);
      for (const f of fc.filters) {
        const tc = f.typedConfig;
        if (!tc) continue;
        if (tc.typeUrl === HCM) {
          const hcm = unpack(tc) as HttpConnectionManager;
          if (hcm.rds && !routeNames.has(hcm.rds.routeConfigName)) errors.push(`listener "${l.name}" references missing route configuration "${hcm.rds.routeConfigName}"`);
          if (hcm.routeConfig) for (const c of routeClusters(hcm.routeConfig)) if (!clusterNames.has(c)) errors.push(`listener "${l.name}" routes to missing cluster "${c}"`);
          // gRPC side services of filters (ext_proc, ext_authz) are clusters too.
          for (const hf of hcm.httpFilters) {
            const c = hf.typedConfig && GRPC_FILTERS.has(hf.typedConfig.typeUrl) ? (unpack(hf.typedConfig) as { grpcService?: { envoyGrpc?: { clusterName: string } } }).grpcService?.envoyGrpc?.clusterName : undefined;
            if (c && !clusterNames.has(c)) errors.push(`listener "${l.name}" filter ${hf.name} references missing cluster "${c}"`);
          }
        } else if (GRPC_FILTERS.has(tc.typeUrl)) {
          // Network filters with a gRPC side service (ext_authz per connection).
          const c = (unpack(tc) as { grpcService?: { envoyGrpc?: { clusterName: string } } }).grpcService?.envoyGrpc?.clusterName;
          if (c && !clusterNames.has(c)) errors.push(`listener "${l.name}" filter ${f.name} references missing cluster "${c}"`);
        } else if (tc.typeUrl === TCP) {
          const tcp = unpack(tc) as TcpProxy;
          if (tcp.cluster && !clusterNames.has(tcp.cluster)) errors.push(`listener "${l.name}" tcp_proxy references missing cluster "${tcp.cluster}"`);
        }
      }
    }
  }

  // Each node gets only the secrets its own resources reference, never the others'.
  const referenced = new Set<string>();
  for (const c of clusters) for (const s of transportSecrets(c.transportSocket)) referenced.add(s);
  for (const l of listeners) for (const fc of chains(l)) for (const s of transportSecrets(fc.transportSocket)) referenced.add(s);
  const served = secrets.filter((s) => referenced.has(s.name));
  const resources = {
    [TYPE.cluster]: toSet(
      TYPE.cluster,
      clusters.map((m) => ({ name: m.name, msg: m, ...(m.type === Cluster_DiscoveryType.EDS ? { edsName: m.edsClusterConfig?.serviceName || m.name } : {}) })),
      errors,
    ),
    [TYPE.endpoint]: toSet(TYPE.endpoint, endpoints.map((m) => ({ name: m.clusterName, msg: m })), errors),
    [TYPE.listener]: toSet(TYPE.listener, listeners.map((m) => ({ name: m.name, msg: m })), errors),
    [TYPE.route]: toSet(TYPE.route, routes.map((m) => ({ name: m.name, msg: m })), errors),
    [TYPE.secret]: toSet(TYPE.secret, served.map((m) => ({ name: m.name, msg: m })), errors),
  } as Record<TypeUrl, ResourceSet>;
  if (errors.length) throw new ControlPlaneError('INCONSISTENT_SNAPSHOT', `snapshot "${label}" is inconsistent: ${errors.join('; ')}`, { details: { errors } });
  return { label, resources };
}

/** A snapshot with an extra, unchecked resource: only for tests that need Envoy to NACK something. */
export function withRawResource(snap: Snapshot, typeUrl: TypeUrl, name: string, msg: unknown): Snapshot {
  const items = new Map(snap.resources[typeUrl].items);
  const any = pack(typeUrl, msg);
  items.set(name, { name, any, version: hash(any.value) });
  const version = hash([...items.values()].map((r) => `${r.name}=${r.version}`).join(';'));
  return { label: `${snap.label}+raw`, resources: { ...snap.resources, [typeUrl]: { version, items } } };
}

export const EMPTY_SNAPSHOT: Snapshot = createSnapshot('empty', {});
export { PUSH_ORDER };
