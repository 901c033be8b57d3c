// `online`: the ingress of an online TEE service (scenario 1). Clients send JWE
// envelopes; ext_proc decrypts requests and encrypts responses; ext_authz (when
// configured) decides first; attestation routes go to ra-proxy untouched.
// Fail closed: both filters have failure_mode_allow false.
// Fixed interface (preamble, interface 1): filter order, cluster names,
// processing_mode, per-route ext_proc disable.
import { Type } from '@sinclair/typebox';
import { ApiVersion } from '../../../proto/gen/envoy/config/core/v3/config_source.ts';
import { ExternalProcessor, ExtProcPerRoute } from '../../../proto/gen/envoy/extensions/filters/http/ext_proc/v3/ext_proc.ts';
import { ProcessingMode_BodySendMode, ProcessingMode_HeaderSendMode } from '../../../proto/gen/envoy/extensions/filters/http/ext_proc/v3/processing_mode.ts';
import { ExtAuthz } from '../../../proto/gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz.ts';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.ts';
import type { Route } from '../../../proto/gen/envoy/config/route/v3/route_components.ts';
import { pack } from '../xds/type-urls.ts';
import type { DeepPartial } from '../xds/snapshot.ts';
import { definePlugin } from './plugin.ts';
import { Endpoint, ENDPOINT_FORMS, endpointProperties, ListenAddress, edsCluster, hcmListener, routerFilter } from './envoy-builders.ts';
import { BufferedHttpLimits, bodyLimitFilter } from './limits.ts';

export const ONLINE_CLUSTERS = { app: 'app', raProxy: 'ra_proxy', extProc: 'ext_proc', extAuthz: 'ext_authz' } as const;
type ClusterNames = Record<keyof typeof ONLINE_CLUSTERS, string>;
const EXT_PROC_FILTER = 'envoy.filters.http.ext_proc';
const EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';
const FIVE_SECONDS = { seconds: 5 };

// Why the ext_proc connection is rotated: an Envoy that resets finished ext_proc
// streams (any Envoy without the ext_proc_graceful_grpc_close runtime default of
// envoy-bootstrap, or resets from client aborts and timeouts) meets Node 20's
// HTTP/2 rapid-reset guard, which closes a connection after ~1000 resets at a
// sustained rate (not configurable in Node 20). In-flight requests then fail
// with 500 (fail-closed, nothing leaked). A new connection every 500 requests
// keeps each connection under that burst, at a negligible cost.
const DEFAULT_EXT_PROC_MAX_REQUESTS_PER_CONNECTION = 500;

const ExtProcEndpoint = Type.Object(
  {
    ...endpointProperties,
    /** Requests (ext_proc streams) per upstream HTTP/2 connection before Envoy opens a new one; 0 = unlimited. */
    maxRequestsPerConnection: Type.Integer({ minimum: 0, maximum: 1_000_000, default: DEFAULT_EXT_PROC_MAX_REQUESTS_PER_CONNECTION }),
    /**
     * More ext-proc processes of the same app identity (e.g. one per core): Envoy
     * spreads the side streams over all of them, round robin. Sessions work across
     * them (session ids are tickets sealed under a key of the app identity).
     */
    replicas: Type.Optional(Type.Array(Endpoint, { maxItems: 64 })),
  },
  { additionalProperties: false, ...ENDPOINT_FORMS },
);

export const OnlineConfig = Type.Object(
  {
    listener: ListenAddress,
    app: Endpoint,
    raProxy: Endpoint,
    extProc: ExtProcEndpoint,
    extAuthz: Type.Optional(Endpoint),
    /**
     * Prefix of this instance's cluster names (`<prefix>app`, `<prefix>ext_proc`, ...),
     * so a second online ingress (e.g. one whose ext-proc speaks Trustflow's
     * envelope form) can run beside the first on the same Envoy. Empty: the
     * fixed names app, ra_proxy, ext_proc, ext_authz.
     */
    clusterPrefix: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_]{0,31}_$' })),
    /** Envoy's protective limits on this ingress (body limit, timeouts, header and HTTP/2 limits); see docs/threat-model.md. */
    limits: BufferedHttpLimits,
  },
  { additionalProperties: false },
);

// HTTP filters, in order. The body limit (buffer filter) holds the whole
// request first, so nothing after it waits on a body that can outgrow Envoy's
// buffers (limits.ts says why); ext_authz decides before anything is
// decrypted; ext_proc then unwraps the JWE; the router goes last.
function httpFilters(withAuthz: boolean, names: ClusterNames, limits: BufferedHttpLimits): DeepPartial<HttpFilter>[] {
  const filters: DeepPartial<HttpFilter>[] = [bodyLimitFilter(limits)];
  if (withAuthz) {
    filters.push({
      name: EXT_AUTHZ_FILTER,
      typedConfig: pack(
        'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
        ExtAuthz.fromPartial({
          grpcService: { envoyGrpc: { clusterName: names.extAuthz }, timeout: FIVE_SECONDS },
          transportApiVersion: ApiVersion.V3,
          failureModeAllow: false,
          includePeerCertificate: true,
        }),
      ),
    });
  }
  filters.push({
    name: EXT_PROC_FILTER,
    typedConfig: pack(
      'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
      ExternalProcessor.fromPartial({
        grpcService: { envoyGrpc: { clusterName: names.extProc }, timeout: FIVE_SECONDS },
        failureModeAllow: false,
        processingMode: {
          requestHeaderMode: ProcessingMode_HeaderSendMode.SEND,
          responseHeaderMode: ProcessingMode_HeaderSendMode.SEND,
          requestBodyMode: ProcessingMode_BodySendMode.BUFFERED,
          responseBodyMode: ProcessingMode_BodySendMode.BUFFERED,
          requestTrailerMode: ProcessingMode_HeaderSendMode.SKIP,
          responseTrailerMode: ProcessingMode_HeaderSendMode.SKIP,
        },
        // ext-proc turns body phases off per request for plain pass-through.
        allowModeOverride: true,
        messageTimeout: FIVE_SECONDS,
      }),
    ),
  });
  filters.push(routerFilter());
  return filters;
}

const extProcOff = {
  [EXT_PROC_FILTER]: pack('type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute', ExtProcPerRoute.fromPartial({ disabled: true })),
};

export const onlinePlugin = definePlugin({
  name: 'online',
  description: 'Ingress for an online TEE service: ext_authz (optional) -> ext_proc (JWE) -> app; attestation routes to ra-proxy',
  schema: OnlineConfig,
  translate(cfg, instance) {
    const routeName = `${instance}_routes`;
    const prefix = cfg.clusterPrefix ?? '';
    const names = Object.fromEntries(Object.entries(ONLINE_CLUSTERS).map(([k, v]) => [k, `${prefix}${v}`])) as ClusterNames;
    const routes: DeepPartial<Route>[] = [
      // Attestation must reach ra-proxy as sent: no JWE processing.
      { name: 'ra_proxy', match: { prefix: '/RaProxy' }, route: { cluster: names.raProxy }, typedPerFilterConfig: extProcOff },
      { name: 'attestation', match: { path: '/.well-known/attestation' }, route: { cluster: names.raProxy }, typedPerFilterConfig: extProcOff },
      { name: 'app', match: { prefix: '/' }, route: { cluster: names.app } },
    ];
    const app = edsCluster(names.app, [cfg.app]);
    const ra = edsCluster(names.raProxy, [cfg.raProxy]);
    const { maxRequestsPerConnection = DEFAULT_EXT_PROC_MAX_REQUESTS_PER_CONNECTION, replicas = [], ...extProc } = cfg.extProc;
    const ep = edsCluster(names.extProc, [extProc, ...replicas], { protocol: 'http2', maxRequestsPerConnection });
    const az = cfg.extAuthz ? edsCluster(names.extAuthz, [cfg.extAuthz], { protocol: 'http2' }) : undefined;
    const clusters = [app, ra, ep, ...(az ? [az] : [])];
    return {
      listeners: [hcmListener(instance, cfg.listener as { address: string; port: number }, routeName, httpFilters(!!az, names, cfg.limits), cfg.limits)],
      routes: [{ name: routeName, virtualHosts: [{ name: instance, domains: ['*'], routes }] }],
      clusters: clusters.map((c) => c.cluster),
      endpoints: clusters.map((c) => c.endpoints),
    };
  },
});
