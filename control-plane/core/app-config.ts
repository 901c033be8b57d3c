// The app config (what a deployer writes) and its translation into one
// consistent snapshot: validate -> translate each plugin entry (pure) -> add
// the dynamic routes/clusters and the SDS secrets -> consistency check.
// Every error is reported at once; nothing partial is ever served.
import { Type, type Static } from '@sinclair/typebox';
import { validateConfig, ConfigError } from '../../foundation/config.ts';
import { ControlPlaneError } from '../errors.ts';
import { PLUGINS, PLUGIN_NAMES, findPlugin } from './plugins/registry.ts';
import { ResourceName } from './plugins/envoy-builders.ts';
import { ClusterSpec, RouteSpec, type RouteConfig } from './plugins/route.ts';
import { createSnapshot, type Snapshot, type SnapshotInput, type DeepPartial } from './xds/snapshot.ts';
import type { Secret } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret.ts';

export const AppConfig = Type.Object(
  {
    revision: Type.Optional(Type.String({ maxLength: 128 })),
    plugins: Type.Array(
      Type.Object(
        {
          plugin: Type.Union(PLUGIN_NAMES.map((n) => Type.Literal(n))),
          /** Instance name; resource names derive from it (default: the plugin name). */
          name: Type.Optional(ResourceName),
          config: Type.Record(Type.String(), Type.Unknown()),
        },
        { additionalProperties: false },
      ),
      { maxItems: 64 },
    ),
  },
  { additionalProperties: false },
);
export type AppConfig = Static<typeof AppConfig>;

/** Routes and clusters managed at runtime (HTTP API, NATS KV). */
export const RoutingState = Type.Object(
  {
    /** The `route` plugin instance these attach to (default: the first one). */
    target: Type.Optional(ResourceName),
    clusters: Type.Array(ClusterSpec, { default: [], maxItems: 1024 }),
    routes: Type.Array(RouteSpec, { default: [], maxItems: 1024 }),
  },
  { additionalProperties: false },
);
export type RoutingState = Static<typeof RoutingState>;

export const EMPTY_ROUTING: RoutingState = { clusters: [], routes: [] };

function msg(e: unknown): string[] {
  if (ConfigError.is(e)) return ((e.details?.errors as string[] | undefined) ?? [e.message]);
  return [(e as Error).message];
}

/** Validates the app config itself (not yet its plugin configs). */
export function parseAppConfig(input: unknown): AppConfig {
  try {
    return validateConfig(AppConfig, input, 'app config');
  } catch (e) {
    throw new ControlPlaneError('INVALID_APP_CONFIG', `app config is invalid: ${msg(e).join('; ')}`, { details: { errors: msg(e) }, cause: e });
  }
}

/** Pure: app config + dynamic routing + secrets -> a checked snapshot. */
export function buildSnapshot(label: string, app: AppConfig, routing: RoutingState, secrets: DeepPartial<Secret>[], opts: { requireDynamicTarget?: boolean } = {}): Snapshot {
  const errors: string[] = [];
  const merged: Required<SnapshotInput> = { clusters: [], endpoints: [], listeners: [], routes: [], secrets: [...secrets] };
  const routeInstances = app.plugins.filter((p) => p.plugin === 'route');
  const target = routing.target ?? routeInstances[0]?.name ?? (routeInstances[0] ? 'route' : undefined);
  const hasDynamic = routing.clusters.length > 0 || routing.routes.length > 0;
  let attached = false;
  const seen = new Set<string>();
  app.plugins.forEach((entry, i) => {
    const plugin = findPlugin(entry.plugin);
    const instance = entry.name ?? entry.plugin;
    if (!plugin) {
      errors.push(`plugins[${i}]: unknown plugin "${entry.plugin}" (known: ${PLUGINS.map((p) => p.name).join(', ')})`);
      return;
    }
    if (seen.has(instance)) errors.push(`plugins[${i}]: instance name "${instance}" is used twice`);
    seen.add(instance);
    let cfg: unknown;
    try {
      cfg = validateConfig(plugin.schema, entry.config, `plugins[${i}] (${entry.plugin})`);
    } catch (e) {
      errors.push(...msg(e).map((m) => `plugins[${i}] (${entry.plugin}) ${m}`));
      return;
    }
    if (plugin.name === 'route' && instance === target && hasDynamic) {
      const rc = cfg as RouteConfig;
      cfg = { ...rc, clusters: [...rc.clusters, ...routing.clusters], routes: [...rc.routes, ...routing.routes] };
      attached = true;
    }
    try {
      const out = plugin.translate(cfg as never, instance);
      for (const k of ['clusters', 'endpoints', 'listeners', 'routes', 'secrets'] as const) merged[k].push(...((out[k] ?? []) as never[]));
    } catch (e) {
      errors.push(`plugins[${i}] (${entry.plugin}): translation failed: ${(e as Error).message}`);
    }
  });
  if (hasDynamic && !attached && (opts.requireDynamicTarget ?? true)) errors.push(`dynamic routes need a "route" plugin instance${routing.target ? ` named "${routing.target}"` : ''} in the app config`);
  if (errors.length) throw new ControlPlaneError('TRANSLATION_FAILED', `app config cannot be translated: ${errors.join('; ')}`, { details: { errors } });
  return createSnapshot(label, merged);
}
