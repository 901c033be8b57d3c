// The xDS resource types this control plane serves, and the explicit registry of
// message codecs used to pack resources into Any and to render them back as
// readable JSON (golden files, status). No reflection over generated code: a type
// missing here cannot be packed or rendered.
import { Any } from '../../../proto/gen/google/protobuf/any.ts';
import { Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster.ts';
import { ClusterLoadAssignment } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint.ts';
import { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener.ts';
import { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route.ts';
import { Secret } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret.ts';
import { HttpConnectionManager } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.ts';
import { TcpProxy } from '../../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.ts';
import { ExtAuthz as NetworkExtAuthz } from '../../../proto/gen/envoy/extensions/filters/network/ext_authz/v3/ext_authz.ts';
import { Router } from '../../../proto/gen/envoy/extensions/filters/http/router/v3/router.ts';
import { Buffer as BufferFilter, BufferPerRoute } from '../../../proto/gen/envoy/extensions/filters/http/buffer/v3/buffer.ts';
import { ExternalProcessor, ExtProcPerRoute } from '../../../proto/gen/envoy/extensions/filters/http/ext_proc/v3/ext_proc.ts';
import { ExtAuthz, ExtAuthzPerRoute } from '../../../proto/gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz.ts';
import { HttpProtocolOptions } from '../../../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options.ts';
import { DownstreamTlsContext, UpstreamTlsContext } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls.ts';

export const TYPE = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;
export type ResourceKind = keyof typeof TYPE;
export type TypeUrl = (typeof TYPE)[ResourceKind];

/**
 * Push order on a snapshot change (ADS "make before break"): clusters before
 * their endpoints, secrets before the listeners that use them, listeners before
 * their route configurations.
 * https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#eventual-consistency-considerations
 */
export const PUSH_ORDER: readonly TypeUrl[] = [TYPE.cluster, TYPE.endpoint, TYPE.secret, TYPE.listener, TYPE.route];

/** Types whose empty subscription on the first request means "all" (legacy wildcard). */
export const WILDCARD_TYPES: ReadonlySet<string> = new Set([TYPE.cluster, TYPE.listener]);

export function isTypeUrl(s: string): s is TypeUrl {
  return (PUSH_ORDER as readonly string[]).includes(s);
}

export function kindOf(typeUrl: TypeUrl): ResourceKind {
  return (Object.keys(TYPE) as ResourceKind[]).find((k) => TYPE[k] === typeUrl)!;
}

interface Codec<T> {
  encode(m: T): { finish(): Uint8Array };
  decode(b: Uint8Array): T;
  toJSON(m: T): unknown;
  fromPartial(p: never): T;
}

// typeUrl -> codec. Extend this table when a plugin packs a new type.
const REGISTRY = new Map<string, Codec<unknown>>(
  (
    [
      [TYPE.cluster, Cluster],
      [TYPE.endpoint, ClusterLoadAssignment],
      [TYPE.listener, Listener],
      [TYPE.route, RouteConfiguration],
      [TYPE.secret, Secret],
      ['type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', HttpConnectionManager],
      ['type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', TcpProxy],
      ['type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz', NetworkExtAuthz],
      ['type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', Router],
      ['type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer', BufferFilter],
      ['type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute', BufferPerRoute],
      ['type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor', ExternalProcessor],
      ['type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute', ExtProcPerRoute],
      ['type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz', ExtAuthz],
      ['type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute', ExtAuthzPerRoute],
      ['type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', HttpProtocolOptions],
      ['type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', DownstreamTlsContext],
      ['type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', UpstreamTlsContext],
    ] as Array<[string, unknown]>
  ).map(([k, v]) => [k, v as Codec<unknown>]),
);

/** Packs a message into Any; the message must already be a full ts-proto message (X.fromPartial). */
export function pack<T>(typeUrl: string, message: T): Any {
  const codec = REGISTRY.get(typeUrl);
  if (!codec) throw new Error(`no codec registered for ${typeUrl}`);
  return Any.fromPartial({ typeUrl, value: Buffer.from(codec.encode(message).finish()) });
}

export function unpack(any: Any): unknown {
  const codec = REGISTRY.get(any.typeUrl);
  if (!codec) throw new Error(`no codec registered for ${any.typeUrl}`);
  return codec.decode(any.value);
}

/** Readable JSON of an Any: the message's JSON with nested Anys expanded and "@type" first. */
export function renderAny(any: Any): Record<string, unknown> {
  const codec = REGISTRY.get(any.typeUrl);
  if (!codec) return { '@type': any.typeUrl, value: Buffer.from(any.value).toString('base64') };
  return { '@type': any.typeUrl, ...(expand(codec.toJSON(codec.decode(any.value))) as Record<string, unknown>) };
}

function expand(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(expand);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    // ts-proto renders Any as {typeUrl, value: base64}.
    if (keys.length <= 2 && typeof o.typeUrl === 'string' && (o.value === undefined || typeof o.value === 'string')) {
      return renderAny(Any.fromPartial({ typeUrl: o.typeUrl, value: Buffer.from((o.value as string | undefined) ?? '', 'base64') }));
    }
    return Object.fromEntries(keys.map((k) => [k, expand(o[k])]));
  }
  return v;
}
