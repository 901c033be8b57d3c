// Static Envoy bootstrap for ext-authz end-to-end tests: an ingress listener
// (optionally mTLS with a group leaf) whose HTTP filter chain is
// ext_authz (interface 1 settings) -> router -> cluster "app".
import { downstreamMtls, httpListener, ROUTER_FILTER, staticCluster } from './static-bootstrap.ts';

export interface ExtAuthzBootstrapOptions {
  listenPort: number;
  upstreamPort: number;
  extAuthzPort: number;
  /** When set, the listener requires a client certificate issued by caPem. */
  tls?: { certPem: string; keyPem: string; caPem: string };
}

export function extAuthzBootstrap(o: ExtAuthzBootstrapOptions): Record<string, unknown> {
  return {
    node: { id: 'ext-authz-e2e', cluster: 'ext-authz-e2e' },
    static_resources: {
      listeners: [
        httpListener('ingress', o.listenPort, {
          route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] }] },
          http_filters: [
            {
              name: 'envoy.filters.http.ext_authz',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
                grpc_service: { envoy_grpc: { cluster_name: 'ext_authz' }, timeout: '2s' },
                transport_api_version: 'V3',
                failure_mode_allow: false,
                include_peer_certificate: true,
              },
            },
            ROUTER_FILTER,
          ],
        }, o.tls ? downstreamMtls(o.tls) : undefined),
      ],
      clusters: [
        staticCluster('app', o.upstreamPort, { connectTimeout: '0.5s' }),
        staticCluster('ext_authz', o.extAuthzPort, { http2: true, connectTimeout: '0.5s' }),
      ],
    },
  };
}

/**
 * TCP variant (the interact ingress shape): mTLS with a group CA, then the
 * network ext_authz filter (per connection) before tcp_proxy to the app.
 */
export function tcpExtAuthzBootstrap(o: Required<ExtAuthzBootstrapOptions>): Record<string, unknown> {
  const b = extAuthzBootstrap(o) as { static_resources: { listeners: Array<{ filter_chains: Array<{ filters: unknown[] }> }> } };
  b.static_resources.listeners[0]!.filter_chains[0]!.filters = [
    {
      name: 'envoy.filters.network.ext_authz',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz',
        stat_prefix: 'tcp_authz',
        grpc_service: { envoy_grpc: { cluster_name: 'ext_authz' }, timeout: '2s' },
        transport_api_version: 'V3',
        failure_mode_allow: false,
        include_peer_certificate: true,
      },
    },
    {
      name: 'envoy.filters.network.tcp_proxy',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'tcp', cluster: 'app' },
    },
  ];
  return b;
}
