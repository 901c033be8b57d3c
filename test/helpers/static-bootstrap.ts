// Building blocks for the static Envoy bootstraps that tests write by hand
// (the product's own resources come from the control plane's plugins).

/** The terminal router HTTP filter. */
export const ROUTER_FILTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};

export interface StaticClusterOptions {
  /** Speak HTTP/2 upstream (gRPC services: ext_proc, ext_authz, RaProxy gRPC). */
  http2?: boolean;
  /** With http2: rotate the upstream connection after this many requests. */
  maxRequestsPerConnection?: number;
  connectTimeout?: string;
}

/** A STATIC cluster of 127.0.0.1:`port` (several ports: round robin over them). */
/** A STATIC cluster of 127.0.0.1 ports, or of Unix sockets (a string is a socket path: Envoy's `pipe`). */
export function staticCluster(name: string, port: number | string | Array<number | string>, o: StaticClusterOptions = {}): Record<string, unknown> {
  return {
    name,
    type: 'STATIC',
    connect_timeout: o.connectTimeout ?? '1s',
    ...(o.http2
      ? {
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              ...(o.maxRequestsPerConnection ? { common_http_protocol_options: { max_requests_per_connection: o.maxRequestsPerConnection } } : {}),
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        }
      : {}),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [port].flat().map((p) => ({ endpoint: { address: typeof p === 'string' ? { pipe: { path: p } } : { socket_address: { address: '127.0.0.1', port_value: p } } } })) }] },
  };
}

/**
 * A listener on 127.0.0.1:`port` with one HTTP connection manager: `hcm` holds its
 * fields (stat_prefix defaults to the listener name), optionally behind TLS.
 */
export function httpListener(name: string, port: number, hcm: Record<string, unknown>, transportSocket?: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      ...(transportSocket ? { transport_socket: transportSocket } : {}),
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', stat_prefix: name, ...hcm },
      }],
    }],
  };
}

/** An HTTP listener on 127.0.0.1:`port` sending every request to `cluster`, no filters but the router. */
export function plainHttpListener(name: string, port: number, cluster: string, statPrefix = name): Record<string, unknown> {
  return httpListener(name, port, {
    stat_prefix: statPrefix,
    route_config: { virtual_hosts: [{ name: cluster, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] },
    http_filters: [ROUTER_FILTER],
  });
}

/**
 * A listener's TLS transport socket with inline certificate and key that requires
 * a client certificate issued by `caPem` and, with `sanPrefix`, a URI SAN that
 * starts with it.
 */
export function downstreamMtls(o: { certPem: string; keyPem: string; caPem: string; sanPrefix?: string }): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      require_client_certificate: true,
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { inline_string: o.certPem }, private_key: { inline_string: o.keyPem } }],
        validation_context: {
          trusted_ca: { inline_string: o.caPem },
          ...(o.sanPrefix !== undefined ? { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: o.sanPrefix } }] } : {}),
        },
      },
    },
  };
}
