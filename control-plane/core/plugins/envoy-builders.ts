// Small constructors for the Envoy building blocks every plugin needs (EDS
// clusters, HCM listeners, TLS contexts over SDS), so plugins stay declarative
// and every resource is shaped the same way.
import { Type, type Static } from '@sinclair/typebox';
import { Cluster_DiscoveryType } from '../../../proto/gen/envoy/config/cluster/v3/cluster.ts';
import { ApiVersion } from '../../../proto/gen/envoy/config/core/v3/config_source.ts';
import { HttpConnectionManager, HttpConnectionManager_CodecType } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.ts';
import { TcpProxy } from '../../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.ts';
import { Router } from '../../../proto/gen/envoy/extensions/filters/http/router/v3/router.ts';
import { HttpProtocolOptions } from '../../../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options.ts';
import { DownstreamTlsContext, UpstreamTlsContext } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls.ts';
import type { Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster.ts';
import type { ClusterLoadAssignment } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint.ts';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener.ts';
import type { Filter } from '../../../proto/gen/envoy/config/listener/v3/listener_components.ts';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.ts';
import type { CommonTlsContext } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls.ts';
import type { DeepPartial } from '../xds/snapshot.ts';
import { pack } from '../xds/type-urls.ts';
import { hcmLimits, type HttpLimits } from './limits.ts';

/** Where a service listens: TCP `address` + `port`, or a Unix `socket` path (the co-located services). */
export const endpointProperties = {
  address: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'IP address or host name' })),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  socket: Type.Optional(Type.String({ minLength: 1, maxLength: 107, pattern: '^/', description: 'Unix socket path instead of address and port' })),
};
/** Exactly one of the two forms. */
export const ENDPOINT_FORMS = { oneOf: [{ required: ['socket'] }, { required: ['address', 'port'] }] };
export const Endpoint = Type.Object(endpointProperties, { additionalProperties: false, ...ENDPOINT_FORMS });
export type Endpoint = Static<typeof Endpoint>;

export const ListenAddress = Type.Object(
  {
    address: Type.String({ default: '127.0.0.1', minLength: 1, description: 'where Envoy listens (loopback by default)' }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
  },
  { additionalProperties: false },
);

/** Protective limits of a TCP (tcp_proxy) listener. */
export const TcpLimits = Type.Object(
  {
    /** Envoy's per-connection buffer (bytes). */
    perConnectionBufferBytes: Type.Integer({ minimum: 16 * 1024, maximum: 64 * 1024 * 1024, default: 1024 * 1024 }),
    /** A connection idle in both directions for this long is closed (Envoy's default, 1 h, made explicit). */
    idleTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 3600 }),
  },
  { additionalProperties: false, default: {} },
);
export type TcpLimits = Static<typeof TcpLimits>;

export const ResourceName = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' });

/** Config source meaning "over the same ADS stream", for RDS/EDS/SDS references. */
export const ADS_SOURCE = { ads: {}, resourceApiVersion: ApiVersion.V3 };

const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

export type UpstreamProtocol = 'http1' | 'http2' | 'downstream';

/** An EDS cluster plus its ClusterLoadAssignment. */
export function edsCluster(
  name: string,
  endpoints: Endpoint[],
  opts: { protocol?: UpstreamProtocol; connectTimeoutMs?: number; tls?: DeepPartial<UpstreamTlsContext>; maxRequestsPerConnection?: number } = {},
): { cluster: DeepPartial<Cluster>; endpoints: DeepPartial<ClusterLoadAssignment> } {
  const protocol = opts.protocol ?? 'http1';
  const ms = opts.connectTimeoutMs ?? 1000;
  const cluster: DeepPartial<Cluster> = {
    name,
    type: Cluster_DiscoveryType.EDS,
    edsClusterConfig: { edsConfig: ADS_SOURCE },
    connectTimeout: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 },
  };
  // 0/undefined = unlimited (Envoy's default): the field is left out.
  const common = opts.maxRequestsPerConnection ? { commonHttpProtocolOptions: { maxRequestsPerConnection: opts.maxRequestsPerConnection } } : {};
  if (protocol !== 'http1' || opts.maxRequestsPerConnection) {
    // gRPC services need HTTP/2; "downstream" keeps the client's protocol.
    const po =
      protocol === 'http2'
        ? HttpProtocolOptions.fromPartial({ ...common, explicitHttpConfig: { http2ProtocolOptions: {} } })
        : protocol === 'http1'
          ? HttpProtocolOptions.fromPartial({ ...common, explicitHttpConfig: { httpProtocolOptions: {} } })
          : HttpProtocolOptions.fromPartial({ ...common, useDownstreamProtocolConfig: { httpProtocolOptions: {}, http2ProtocolOptions: {} } });
    cluster.typedExtensionProtocolOptions = { [HTTP_OPTIONS]: pack(`type.googleapis.com/${HTTP_OPTIONS}`, po) };
  }
  if (opts.tls) {
    cluster.transportSocket = {
      name: 'envoy.transport_sockets.tls',
      typedConfig: pack('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', UpstreamTlsContext.fromPartial(opts.tls as never)),
    };
  }
  return {
    cluster,
    endpoints: {
      clusterName: name,
      endpoints: [{ lbEndpoints: endpoints.map((e) => ({ endpoint: { address: envoyAddress(e) } })) }],
    },
  };
}

/** An Envoy address of an endpoint: a pipe for a Unix socket, else a socket address. */
export function envoyAddress(e: Endpoint): { pipe: { path: string } } | { socketAddress: { address: string; portValue: number } } {
  return e.socket ? { pipe: { path: e.socket } } : { socketAddress: { address: e.address!, portValue: e.port! } };
}

export function routerFilter(): DeepPartial<HttpFilter> {
  return { name: 'envoy.filters.http.router', typedConfig: pack('type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', Router.fromPartial({})) };
}

/** A listener whose single HCM takes its routes over RDS (same ADS stream), with the protective limits set. */
export function hcmListener(name: string, listen: { address: string; port: number }, routeConfigName: string, httpFilters: DeepPartial<HttpFilter>[], limits: HttpLimits): DeepPartial<Listener> {
  const hcm = HttpConnectionManager.fromPartial({
    statPrefix: name,
    codecType: HttpConnectionManager_CodecType.AUTO,
    rds: { configSource: ADS_SOURCE, routeConfigName },
    httpFilters: httpFilters as never,
    ...(hcmLimits(limits) as object),
  });
  return {
    name,
    address: { socketAddress: { address: listen.address, portValue: listen.port } },
    perConnectionBufferLimitBytes: limits.perConnectionBufferBytes,
    filterChains: [
      {
        filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: pack('type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', hcm) }],
      },
    ],
  };
}

/** A TLS context whose certificate and trust anchor are SDS secrets served by this control plane. */
export function sdsTlsContext(certSecret: string, caSecret: string): DeepPartial<CommonTlsContext> {
  return {
    tlsCertificateSdsSecretConfigs: [{ name: certSecret, sdsConfig: ADS_SOURCE }],
    validationContextSdsSecretConfig: { name: caSecret, sdsConfig: ADS_SOURCE },
  };
}

/** A listener forwarding raw TCP to a cluster, optionally terminating mTLS, with optional network filters before tcp_proxy. */
export function tcpListener(
  name: string,
  listen: { address: string; port: number },
  cluster: string,
  limits: TcpLimits,
  opts: {
    tls?: DeepPartial<DownstreamTlsContext>;
    /** Network filters before tcp_proxy. */
    before?: DeepPartial<Filter>[];
    /** Close each downstream connection this long after it was accepted (0 or absent: never). */
    maxConnectionSeconds?: number;
  } = {},
): DeepPartial<Listener> {
  const { tls, before = [], maxConnectionSeconds = 0 } = opts;
  const tcp = TcpProxy.fromPartial({
    statPrefix: name,
    cluster,
    idleTimeout: { seconds: limits.idleTimeoutSeconds, nanos: 0 },
    ...(maxConnectionSeconds > 0 ? { maxDownstreamConnectionDuration: { seconds: maxConnectionSeconds } } : {}),
  });
  return {
    name,
    address: { socketAddress: { address: listen.address, portValue: listen.port } },
    perConnectionBufferLimitBytes: limits.perConnectionBufferBytes,
    filterChains: [
      {
        filters: [...before, { name: 'envoy.filters.network.tcp_proxy', typedConfig: pack('type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', tcp) }],
        ...(tls
          ? { transportSocket: { name: 'envoy.transport_sockets.tls', typedConfig: pack('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', DownstreamTlsContext.fromPartial(tls as never)) } }
          : {}),
      },
    ],
  };
}
