// `route`: plain HTTP routing: one listener, named routes (prefix or exact
// path) to named clusters. The dynamic routing API edits the routes and
// clusters of a `route` instance at runtime.
import { Type, type Static } from '@sinclair/typebox';
import type { Route } from '../../../proto/gen/envoy/config/route/v3/route_components.ts';
import type { DeepPartial } from '../xds/snapshot.ts';
import { definePlugin } from './plugin.ts';
import { Endpoint, ListenAddress, ResourceName, edsCluster, hcmListener, routerFilter } from './envoy-builders.ts';
import { HttpLimits } from './limits.ts';

const PathString = Type.String({ pattern: '^/[\\x21-\\x7e]{0,255}$', description: 'starts with /, printable ASCII, no spaces' });

export const ClusterSpec = Type.Object(
  {
    name: ResourceName,
    endpoints: Type.Array(Endpoint, { minItems: 1, maxItems: 64 }),
    protocol: Type.Union([Type.Literal('http1'), Type.Literal('http2'), Type.Literal('downstream')], { default: 'http1' }),
    connectTimeoutMs: Type.Integer({ minimum: 1, maximum: 60_000, default: 1000 }),
  },
  { additionalProperties: false },
);
export type ClusterSpec = Static<typeof ClusterSpec>;

export const RouteSpec = Type.Object(
  {
    name: ResourceName,
    match: Type.Union([
      Type.Object({ prefix: PathString }, { additionalProperties: false }),
      Type.Object({ path: PathString }, { additionalProperties: false }),
    ]),
    cluster: ResourceName,
    prefixRewrite: Type.Optional(PathString),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 })),
  },
  { additionalProperties: false },
);
export type RouteSpec = Static<typeof RouteSpec>;

export const RouteConfig = Type.Object(
  {
    listener: ListenAddress,
    clusters: Type.Array(ClusterSpec, { default: [], maxItems: 1024 }),
    routes: Type.Array(RouteSpec, { default: [], maxItems: 1024 }),
    /** Envoy's protective limits on this listener (timeouts, header and HTTP/2 limits; bodies stream). */
    limits: HttpLimits,
  },
  { additionalProperties: false },
);
export type RouteConfig = Static<typeof RouteConfig>;

/** Most specific first (exact paths, then longer prefixes), so insertion order never changes behaviour. */
export function orderRoutes(routes: RouteSpec[]): RouteSpec[] {
  const key = (r: RouteSpec) => ('path' in r.match ? [0, -r.match.path.length] : [1, -r.match.prefix.length]);
  return [...routes].sort((a, b) => {
    const [ka, kb] = [key(a), key(b)];
    return ka[0]! - kb[0]! || ka[1]! - kb[1]! || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  });
}

export const routePlugin = definePlugin({
  name: 'route',
  description: 'A listener with named prefix/path routes to named clusters (edited at runtime by the routing API)',
  schema: RouteConfig,
  translate(cfg, instance) {
    const routeName = `${instance}_routes`;
    const routes: DeepPartial<Route>[] = orderRoutes(cfg.routes).map((r) => ({
      name: r.name,
      match: 'path' in r.match ? { path: r.match.path } : { prefix: r.match.prefix },
      route: {
        cluster: r.cluster,
        ...(r.prefixRewrite !== undefined ? { prefixRewrite: r.prefixRewrite } : {}),
        ...(r.timeoutMs !== undefined ? { timeout: { seconds: Math.floor(r.timeoutMs / 1000), nanos: (r.timeoutMs % 1000) * 1_000_000 } } : {}),
      },
    }));
    const clusters = cfg.clusters.map((c) => edsCluster(c.name, c.endpoints, { protocol: c.protocol, connectTimeoutMs: c.connectTimeoutMs }));
    return {
      listeners: [hcmListener(instance, cfg.listener as { address: string; port: number }, routeName, [routerFilter()], cfg.limits)],
      routes: [{ name: routeName, virtualHosts: [{ name: instance, domains: ['*'], routes }] }],
      clusters: clusters.map((c) => c.cluster),
      endpoints: clusters.map((c) => c.endpoints),
    };
  },
});
