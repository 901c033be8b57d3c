// Test glue for ext-proc: Envoy for the online scenario, either through the
// control plane (`online` plugin, generated bootstrap) or from a static bootstrap
// with exactly the ext_proc filter of interface 1, and a stack of app upstream +
// ext-proc + real Envoy.
import type { Test } from 'tap';
import type { AppIdentity } from '../../platforms/index.ts';
import { createEphemeralAppIdentity } from '../../platforms/index.ts';
import { freePort } from '../../dev/free-port.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { startExtProc, type ExtProcHandle } from '../../ext-proc/start.ts';
import { generateBootstrap, layeredRuntime } from '../../envoy-bootstrap/index.ts';
import { startTestControlPlane } from './control-plane.ts';
import { startEnvoy, type EnvoyProcess } from './envoy.ts';
import { startUpstream, type Handler, type Upstream } from './upstream.ts';
import { httpListener, ROUTER_FILTER, staticCluster } from './static-bootstrap.ts';

/**
 * Envoy resets every finished ext_proc stream (RST_STREAM), and Node's nghttp2
 * (>= 1.57, the CVE-2023-44487 fix; not configurable in Node 20) answers more than
 * ~1000 resets at > 33/s on one connection with GOAWAY: in-flight requests then
 * fail with 500 (fail closed) every few seconds under load. Rotating the ext_proc
 * connection after `maxRequestsPerConnection` streams keeps each connection under
 * that burst.
 */
export const EXT_PROC_MAX_REQUESTS_PER_CONNECTION = 500;

/** The ext_proc HTTP filter exactly as interface 1 fixes it, talking to `cluster`. */
export function extProcFilter(cluster = 'ext_proc'): Record<string, unknown> {
  return {
    name: 'envoy.filters.http.ext_proc',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
      grpc_service: { envoy_grpc: { cluster_name: cluster }, timeout: '5s' },
      failure_mode_allow: false,
      processing_mode: {
        request_header_mode: 'SEND',
        response_header_mode: 'SEND',
        request_body_mode: 'BUFFERED',
        response_body_mode: 'BUFFERED',
        request_trailer_mode: 'SKIP',
        response_trailer_mode: 'SKIP',
      },
      allow_mode_override: true,
      message_timeout: '5s',
    },
  };
}

export interface OnlineBootstrapOptions {
  listenPort: number;
  appPort: number;
  extProcPort: number;
  /** More ext-proc processes of the same identity (static bootstrap: same cluster; control plane: `replicas`). */
  extProcReplicaPorts?: number[];
  raProxyPort?: number;
  /** Static bootstrap only: rotate the ext_proc connection (0 = never). */
  extProcMaxRequestsPerConnection?: number;
}

const NO_EXT_PROC = { 'envoy.filters.http.ext_proc': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute', disabled: true } };

/** The online ingress listener: ext_proc (to `extProcCluster`) -> router; attestation routes skip ext_proc. */
export function onlineIngressListener(name: string, port: number, extProcCluster = 'ext_proc'): Record<string, unknown> {
  return httpListener(name, port, {
    route_config: {
      virtual_hosts: [{
        name: 'app',
        domains: ['*'],
        routes: [
          { match: { prefix: '/RaProxy' }, route: { cluster: 'ra_proxy' }, typed_per_filter_config: NO_EXT_PROC },
          { match: { path: '/.well-known/attestation' }, route: { cluster: 'ra_proxy' }, typed_per_filter_config: NO_EXT_PROC },
          { match: { prefix: '/' }, route: { cluster: 'app' } },
        ],
      }],
    },
    http_filters: [extProcFilter(extProcCluster), ROUTER_FILTER],
  });
}

export function onlineStaticBootstrap(o: OnlineBootstrapOptions): Record<string, unknown> {
  return {
    node: { id: 'ext-proc-test', cluster: 'ext-proc-test' },
    layered_runtime: layeredRuntime(),
    static_resources: {
      listeners: [onlineIngressListener('ingress', o.listenPort)],
      clusters: [staticCluster('app', o.appPort), staticCluster('ra_proxy', o.raProxyPort ?? o.appPort), staticCluster('ext_proc', [o.extProcPort, ...(o.extProcReplicaPorts ?? [])], { http2: true, maxRequestsPerConnection: o.extProcMaxRequestsPerConnection ?? EXT_PROC_MAX_REQUESTS_PER_CONNECTION })],
    },
  };
}

/** The example app: "I got your message: <body>". */
export const echoApp: Handler = (_req, body, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`I got your message: ${body.toString('utf8')}`);
};

export interface OnlineStack {
  url: string;
  envoy: EnvoyProcess;
  extProc: ExtProcHandle;
  app: Upstream;
  identity: AppIdentity;
}

let sharedIdentity: Promise<AppIdentity> | undefined;
/** One ephemeral identity per test process (RSA key generation is not free). */
export function testIdentity(): Promise<AppIdentity> {
  sharedIdentity ??= createEphemeralAppIdentity('ext-proc-test');
  return sharedIdentity;
}

/** The `online` plugin entry of an app config (engineer A's control plane). */
export function onlinePluginEntry(o: OnlineBootstrapOptions): Record<string, unknown> {
  const ep = (port: number) => ({ address: '127.0.0.1', port });
  return {
    plugin: 'online',
    name: 'online',
    config: { listener: ep(o.listenPort), app: ep(o.appPort), raProxy: ep(o.raProxyPort ?? o.appPort), extProc: { ...ep(o.extProcPort), ...(o.extProcReplicaPorts?.length ? { replicas: o.extProcReplicaPorts.map(ep) } : {}) } },
  };
}

/**
 * Envoy for the online scenario. `control-plane` (default): Envoy starts from the
 * generated bootstrap only and gets listener/routes/clusters from startControlPlane
 * with the `online` plugin; `static`: the same filter config as a static bootstrap.
 */
export async function startOnlineEnvoy(t: Test, o: OnlineBootstrapOptions & { via?: 'control-plane' | 'static'; appConfig?: Record<string, unknown> }): Promise<EnvoyProcess> {
  if (o.via === 'static') return startEnvoy(t, { name: 'ext-proc-static', bootstrap: onlineStaticBootstrap(o) });
  const cp = await startTestControlPlane(t, { id: 'ext-proc-test', logLevel: 'silent' });
  cp.setAppConfig(o.appConfig ?? { plugins: [onlinePluginEntry(o)] });
  const envoy = await startEnvoy(t, { name: 'ext-proc-cp', bootstrap: generateBootstrap({ nodeId: `ext-proc-${o.listenPort}`, cluster: 'ext-proc-test', ...cp.xdsTarget, mode: 'sotw', adminPort: 0 }) });
  // Ready when the listener is active and every cluster has its endpoint.
  await envoy.waitForStat('listener_manager.total_listeners_active', (v) => (v ?? 0) >= 1, 15_000);
  for (const c of ['app', 'ra_proxy', 'ext_proc']) await envoy.waitForStat(`cluster.${c}.membership_total`, (v) => (v ?? 0) >= 1, 15_000);
  return envoy;
}

export async function startOnlineStack(t: Test, opts: { config?: Record<string, unknown>; app?: Handler; identity?: AppIdentity; via?: 'control-plane' | 'static' } = {}): Promise<OnlineStack> {
  const identity = opts.identity ?? (await testIdentity());
  const app = await startUpstream(t, opts.app ?? echoApp);
  const extProc = await startExtProc({ http: { enabled: false }, ...opts.config }, { identity, logger: silentLogger });
  t.teardown(() => extProc.close());
  const listenPort = await freePort();
  const envoy = await startOnlineEnvoy(t, { listenPort, appPort: app.port, extProcPort: extProc.port, via: opts.via });
  return { url: `http://127.0.0.1:${listenPort}`, envoy, extProc, app, identity };
}

export interface IngressStack extends OnlineStack {
  /** Envoy's /ready answers LIVE (the process is up and serving). */
  ready(): Promise<boolean>;
}

/**
 * The online ingress exactly as the demo runs it: the control plane's `online`
 * plugin with ext_authz (an allow-all policy) and the given protective limits,
 * an app, ext-proc and real Envoy configured only over ADS.
 */
export async function startIngressStack(
  t: Test,
  opts: { limits?: Record<string, unknown>; extProc?: Record<string, unknown>; app?: Handler } = {},
): Promise<IngressStack> {
  const identity = await testIdentity();
  const app = await startUpstream(t, opts.app ?? echoApp);
  const extProc = await startExtProc({ http: { enabled: false }, ...opts.extProc }, { identity, logger: silentLogger });
  t.teardown(() => extProc.close());
  const { startExtAuthz } = await import('../../ext-authz/start.ts');
  const authz = await startExtAuthz({ grpc: { port: 0 }, http: { port: 0 }, policy: { rules: [{ name: 'all', pathPrefix: '/', public: true }] }, logLevel: 'silent' }, { logger: silentLogger });
  t.teardown(() => authz.close());
  const listenPort = await freePort();
  const entry = onlinePluginEntry({ listenPort, appPort: app.port, extProcPort: extProc.port });
  const config = { ...(entry.config as Record<string, unknown>), extAuthz: { address: '127.0.0.1', port: authz.grpcPort }, ...(opts.limits ? { limits: opts.limits } : {}) };
  const envoy = await startOnlineEnvoy(t, { listenPort, appPort: app.port, extProcPort: extProc.port, appConfig: { plugins: [{ ...entry, config }] } });
  await envoy.waitForStat('cluster.ext_authz.membership_total', (v) => (v ?? 0) >= 1, 15_000);
  const ready = async () => envoy.running && (await envoy.admin('/ready').then((r) => r.text(), () => '')).trim() === 'LIVE';
  return { url: `http://127.0.0.1:${listenPort}`, envoy, extProc, app, identity, ready };
}
