// Generates the Envoy bootstrap that makes the control plane Envoy's only
// source of configuration: node identity, one ADS gRPC stream (SotW or delta)
// to the control plane, LDS/CDS over ADS, admin on loopback. Everything else
// (listeners, routes, clusters, endpoints, secrets) arrives over xDS.
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/bootstrap/v3/bootstrap.proto
import { stringify } from 'yaml';
import { BootstrapError } from '../errors.ts';

export type XdsMode = 'sotw' | 'delta';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** An IPv4 or IPv6 literal (a host name needs DNS). Host names never hold ':'. */
export function isIpLiteral(host: string): boolean {
  return IPV4.test(host) || (host.includes(':') && /^[0-9A-Fa-f:.]+$/.test(host));
}

export interface BootstrapOptions {
  nodeId: string;
  cluster: string;
  /** TCP address of the control plane (with xdsPort), unless xdsSocket is given. */
  xdsAddress?: string;
  xdsPort?: number;
  /** The control plane's Unix socket (a co-located Envoy: the default of the demo and the k8s sidecars). */
  xdsSocket?: string;
  /** Mutual TLS to a remote control plane: Envoy's certificate (naming its node) and the CA of the control plane's. */
  xdsTls?: { certFile: string; keyFile: string; caFile: string; sni?: string };
  mode: XdsMode;
  /** Admin port on 127.0.0.1 (default 9901; 0 lets the kernel pick). */
  adminPort?: number;
  /** Name of the static cluster that points at the control plane. */
  xdsClusterName?: string;
  /** Overload manager: heap Envoy may use before it sheds load (default 1 GiB). */
  maxHeapBytes?: number;
  /** Overload manager: open downstream connections across all listeners (default 10,000). */
  maxDownstreamConnections?: number;
}

export const DEFAULT_MAX_HEAP_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_DOWNSTREAM_CONNECTIONS = 10_000;

/**
 * Envoy's overload manager, as its edge best practice has it: past 95% of the
 * heap budget it returns free memory to the OS, past 98% it answers new
 * requests with 503 instead of growing; past the connection budget it refuses
 * new connections. Without it, one client can grow Envoy until the kernel
 * kills it.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/operations/overload_manager/overload_manager
 */
export function overloadManager(maxHeapBytes: number, maxDownstreamConnections: number): Record<string, unknown> {
  const heap = 'envoy.resource_monitors.fixed_heap';
  return {
    refresh_interval: '0.25s',
    resource_monitors: [
      { name: heap, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig', max_heap_size_bytes: maxHeapBytes } },
      {
        name: 'envoy.resource_monitors.global_downstream_max_connections',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig', max_active_downstream_connections: maxDownstreamConnections },
      },
    ],
    actions: [
      { name: 'envoy.overload_actions.shrink_heap', triggers: [{ name: heap, threshold: { value: 0.95 } }] },
      { name: 'envoy.overload_actions.stop_accepting_requests', triggers: [{ name: heap, threshold: { value: 0.98 } }] },
    ],
  };
}

export const XDS_CLUSTER = 'xds_cluster';

/**
 * Runtime defaults every Envoy of ours runs with (a static layer), plus the admin
 * layer so `/runtime_modify` still works for debugging.
 * - ext_proc_graceful_grpc_close: when an ext_proc exchange is done, Envoy
 *   half-closes the side stream and lets ext-proc close it, instead of resetting
 *   it (RST_STREAM). A reset costs ext-proc an Error with a stack trace per HTTP
 *   request, and Node's HTTP/2 rapid-reset guard answers a burst of them with
 *   GOAWAY (see docs/ext-proc.md). Off by default in Envoy 1.34-1.40.
 */
export const RUNTIME_DEFAULTS: Readonly<Record<string, boolean | number | string>> = {
  'envoy.reloadable_features.ext_proc_graceful_grpc_close': true,
};

export function layeredRuntime(): Record<string, unknown> {
  return { layers: [{ name: 'static', static_layer: { ...RUNTIME_DEFAULTS } }, { name: 'admin', admin_layer: {} }] };
}

function check(opts: BootstrapOptions): void {
  const errors: string[] = [];
  if (!opts.nodeId || !/^[A-Za-z0-9._:-]{1,128}$/.test(opts.nodeId)) errors.push('nodeId must be 1..128 chars of [A-Za-z0-9._:-]');
  if (!opts.cluster || !/^[A-Za-z0-9._:-]{1,128}$/.test(opts.cluster)) errors.push('cluster must be 1..128 chars of [A-Za-z0-9._:-]');
  if (opts.xdsSocket !== undefined) {
    if (!opts.xdsSocket.startsWith('/') || opts.xdsSocket.length > 107) errors.push('xdsSocket must be an absolute path of at most 107 characters');
    if (opts.xdsTls) errors.push('xdsTls applies to TCP: a Unix socket is protected by its permissions');
  } else {
    if (!opts.xdsAddress) errors.push('xdsAddress is required (or xdsSocket)');
    if (!Number.isInteger(opts.xdsPort) || opts.xdsPort! < 1 || opts.xdsPort! > 65535) errors.push('xdsPort must be an integer in 1..65535');
  }
  if (opts.mode !== 'sotw' && opts.mode !== 'delta') errors.push("mode must be 'sotw' or 'delta'");
  if (opts.adminPort !== undefined && (!Number.isInteger(opts.adminPort) || opts.adminPort < 0 || opts.adminPort > 65535)) errors.push('adminPort must be an integer in 0..65535');
  if (opts.maxHeapBytes !== undefined && (!Number.isInteger(opts.maxHeapBytes) || opts.maxHeapBytes < 64 * 1024 * 1024)) errors.push('maxHeapBytes must be an integer of at least 64 MiB');
  if (opts.maxDownstreamConnections !== undefined && (!Number.isInteger(opts.maxDownstreamConnections) || opts.maxDownstreamConnections < 1)) errors.push('maxDownstreamConnections must be a positive integer');
  if (errors.length) throw new BootstrapError('INVALID_OPTIONS', `bootstrap options are invalid: ${errors.join('; ')}`, { details: { errors } });
}

/** The bootstrap as an object (snake_case proto JSON), as dev/envoy-process.ts accepts it. */
export function generateBootstrap(opts: BootstrapOptions): Record<string, unknown> {
  check(opts);
  const xdsCluster = opts.xdsClusterName ?? XDS_CLUSTER;
  const configSource = { ads: {}, resource_api_version: 'V3' };
  return {
    node: { id: opts.nodeId, cluster: opts.cluster },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: opts.adminPort ?? 9901 } } },
    layered_runtime: layeredRuntime(),
    overload_manager: overloadManager(opts.maxHeapBytes ?? DEFAULT_MAX_HEAP_BYTES, opts.maxDownstreamConnections ?? DEFAULT_MAX_DOWNSTREAM_CONNECTIONS),
    dynamic_resources: {
      ads_config: {
        api_type: opts.mode === 'delta' ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: xdsCluster }, timeout: '5s' }],
        // The node is sent once per stream; later requests stay small.
        set_node_on_first_message_only: true,
      },
      cds_config: configSource,
      lds_config: configSource,
    },
    static_resources: {
      clusters: [
        {
          name: xdsCluster,
          // A Unix socket or an IP literal is static; a hostname needs DNS.
          type: opts.xdsSocket || isIpLiteral(opts.xdsAddress!) ? 'STATIC' : 'STRICT_DNS',
          connect_timeout: '1s',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              // gRPC needs HTTP/2; keepalive notices a dead control plane so
              // Envoy reconnects (it keeps serving its last config meanwhile).
              explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '10s', timeout: '5s' } } },
            },
          },
          load_assignment: {
            cluster_name: xdsCluster,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: opts.xdsSocket ? { pipe: { path: opts.xdsSocket } } : { socket_address: { address: opts.xdsAddress, port_value: opts.xdsPort } } } }] }],
          },
          ...(opts.xdsTls
            ? {
                transport_socket: {
                  name: 'envoy.transport_sockets.tls',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
                    ...(opts.xdsTls.sni ? { sni: opts.xdsTls.sni } : {}),
                    common_tls_context: {
                      tls_certificates: [{ certificate_chain: { filename: opts.xdsTls.certFile }, private_key: { filename: opts.xdsTls.keyFile } }],
                      validation_context: { trusted_ca: { filename: opts.xdsTls.caFile } },
                      alpn_protocols: ['h2'],
                    },
                  },
                },
              }
            : {}),
        },
      ],
    },
  };
}

export function toYaml(bootstrap: Record<string, unknown>): string {
  // Envoy's YAML parser is YAML 1.1: a bare `n`, `no` or `on` would become a
  // boolean, so every string value is double-quoted.
  return stringify(bootstrap, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' });
}
