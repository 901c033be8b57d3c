// Test glue for ext-proc: a static Envoy bootstrap with exactly the ext_proc
// filter of interface 1 (the `online` plugin's filter config), and a stack of
// app upstream + ext-proc + real Envoy.
import type { Test } from 'tap';
import type { AppIdentity } from '../../kernel/app-identity.ts';
import { createEphemeralAppIdentity } from '../../kernel/app-identity.ts';
import { freePort } from '../../kernel/free-port.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { startExtProc, type ExtProcHandle } from '../../ext-proc/main.ts';
import { startEnvoy, type EnvoyProcess } from './envoy.ts';
import { startUpstream, type Handler, type Upstream } from './upstream.ts';

const HTTP2 = {
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
    '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    explicit_http_config: { http2_protocol_options: {} },
  },
};

function cluster(name: string, port: number, http2 = false): Record<string, unknown> {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    ...(http2 ? { typed_extension_protocol_options: HTTP2 } : {}),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  };
}

/** The ext_proc HTTP filter exactly as interface 1 fixes it. */
export const EXT_PROC_FILTER = {
  name: 'envoy.filters.http.ext_proc',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
    grpc_service: { envoy_grpc: { cluster_name: 'ext_proc' }, timeout: '5s' },
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

export interface OnlineBootstrapOptions {
  listenPort: number;
  appPort: number;
  extProcPort: number;
  raProxyPort?: number;
}

export function onlineStaticBootstrap(o: OnlineBootstrapOptions): Record<string, unknown> {
  const noExtProc = { 'envoy.filters.http.ext_proc': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute', disabled: true } };
  return {
    node: { id: 'ext-proc-test', cluster: 'ext-proc-test' },
    static_resources: {
      listeners: [{
        name: 'ingress',
        address: { socket_address: { address: '127.0.0.1', port_value: o.listenPort } },
        filter_chains: [{
          filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'ingress',
              route_config: {
                virtual_hosts: [{
                  name: 'app',
                  domains: ['*'],
                  routes: [
                    { match: { prefix: '/RaProxy' }, route: { cluster: 'ra_proxy' }, typed_per_filter_config: noExtProc },
                    { match: { path: '/.well-known/attestation' }, route: { cluster: 'ra_proxy' }, typed_per_filter_config: noExtProc },
                    { match: { prefix: '/' }, route: { cluster: 'app' } },
                  ],
                }],
              },
              http_filters: [EXT_PROC_FILTER, { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
            },
          }],
        }],
      }],
      clusters: [cluster('app', o.appPort), cluster('ra_proxy', o.raProxyPort ?? o.appPort), cluster('ext_proc', o.extProcPort, true)],
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

export async function startOnlineStack(t: Test, opts: { config?: Record<string, unknown>; app?: Handler; identity?: AppIdentity } = {}): Promise<OnlineStack> {
  const identity = opts.identity ?? (await testIdentity());
  const app = await startUpstream(t, opts.app ?? echoApp);
  const extProc = await startExtProc({ http: { enabled: false }, ...opts.config }, { identity, logger: silentLogger });
  t.teardown(() => extProc.close());
  const listenPort = await freePort();
  const envoy = await startEnvoy(t, { name: 'ext-proc', bootstrap: onlineStaticBootstrap({ listenPort, appPort: app.port, extProcPort: extProc.port }) });
  return { url: `http://127.0.0.1:${listenPort}`, envoy, extProc, app, identity };
}
