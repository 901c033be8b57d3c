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

/** A STATIC cluster with one endpoint on 127.0.0.1:`port`. */
export function staticCluster(name: string, port: number, o: StaticClusterOptions = {}): Record<string, unknown> {
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
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  };
}

/** An HTTP listener on 127.0.0.1:`port` sending every request to `cluster`, no filters but the router. */
export function plainHttpListener(name: string, port: number, cluster: string, statPrefix = name): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: statPrefix,
          route_config: { virtual_hosts: [{ name: cluster, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] },
          http_filters: [ROUTER_FILTER],
        },
      }],
    }],
  };
}
