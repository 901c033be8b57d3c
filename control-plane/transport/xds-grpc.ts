// gRPC transport of the xDS core: ADS (SotW + delta) and the per-type services
// CDS/LDS/RDS/EDS/SDS (Stream, Delta and Fetch), plus server reflection. Each
// call gets its own SotwStream/DeltaStream; this file only adapts grpc-js.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { AggregatedDiscoveryServiceService } from '../../proto/gen/envoy/service/discovery/v3/ads.ts';
import { ClusterDiscoveryServiceService } from '../../proto/gen/envoy/service/cluster/v3/cds.ts';
import { ListenerDiscoveryServiceService } from '../../proto/gen/envoy/service/listener/v3/lds.ts';
import { RouteDiscoveryServiceService } from '../../proto/gen/envoy/service/route/v3/rds.ts';
import { EndpointDiscoveryServiceService } from '../../proto/gen/envoy/service/endpoint/v3/eds.ts';
import { SecretDiscoveryServiceService } from '../../proto/gen/envoy/service/secret/v3/sds.ts';
import { DiscoveryResponse, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest } from '../../proto/gen/envoy/service/discovery/v3/discovery.ts';
import { addReflection, toGrpcError } from '../../net/grpc-server.ts';
import { SotwStream } from '../core/xds/sotw-stream.ts';
import { checkPeer, type StreamOptions, type StreamPeer } from '../core/xds/stream-common.ts';
import { DeltaStream } from '../core/xds/delta-stream.ts';
import { bindNode } from '../core/xds/node-binding.ts';
import { TYPE, type TypeUrl } from '../core/xds/type-urls.ts';
import type { SnapshotCache } from '../core/xds/cache.ts';
import type { XdsStatus } from '../core/xds/status.ts';

export interface XdsServerDeps {
  cache: SnapshotCache;
  status: XdsStatus;
  logger: Logger;
  controlPlaneId: string;
  /** How the server is bound (net/listen.ts): decides what each stream's peer may do. */
  listen?: 'unix' | 'mtls' | 'tcp';
  /** Plaintext loopback TCP only: serve secrets anyway (development). */
  secretsOverLoopbackTcp?: boolean;
}

/** The node ids a client certificate names: its URI SANs aenv://node/<id>, else its subject CN. */
export function certNodeIds(cert: { subject?: { CN?: string | string[] }; subjectaltname?: string } | undefined): string[] {
  if (!cert) return [];
  const uris = (cert.subjectaltname ?? '')
    .split(', ')
    .filter((s) => s.startsWith('URI:aenv://node/'))
    .map((s) => decodeURIComponent(s.slice('URI:aenv://node/'.length)));
  if (uris.length) return uris;
  const cn = cert.subject?.CN;
  return cn ? [cn].flat() : [];
}

function peerOf(deps: XdsServerDeps, call: { getAuthContext?: () => { sslPeerCertificate?: unknown } }): StreamPeer | undefined {
  if (!deps.listen) return undefined;
  if (deps.listen !== 'mtls') return { kind: deps.listen, secretsOverTcp: deps.secretsOverLoopbackTcp === true };
  return { kind: 'mtls', nodeIds: certNodeIds(call.getAuthContext?.().sslPeerCertificate as never) };
}

export const XDS_SERVICES = [
  'envoy.service.discovery.v3.AggregatedDiscoveryService',
  'envoy.service.cluster.v3.ClusterDiscoveryService',
  'envoy.service.listener.v3.ListenerDiscoveryService',
  'envoy.service.route.v3.RouteDiscoveryService',
  'envoy.service.endpoint.v3.EndpointDiscoveryService',
  'envoy.service.secret.v3.SecretDiscoveryService',
];

let streamSeq = 0;

type Duplex<Req, Res> = grpc.ServerDuplexStream<Req, Res>;

function fail(call: { emit(ev: 'error', e: unknown): boolean }, e: unknown): void {
  call.emit('error', toGrpcError(e));
}

function serveStream<Req, Res>(
  deps: XdsServerDeps,
  kind: 'sotw' | 'delta',
  fixedType: TypeUrl | undefined,
  call: Duplex<Req, Res>,
): void {
  const streamId = ++streamSeq;
  const opts: StreamOptions = { ...deps, logger: deps.logger.child({ streamId, mode: kind, ...(fixedType ? { typeUrl: fixedType } : {}) }), fixedType, peer: peerOf(deps, call) };
  // The streams hand over each response's bytes as well (encoded once for every
  // stream sent the same resources): those are written as they are (rawResponses).
  const send = (r: Res, encoded?: Uint8Array) => {
    if (!call.writable || call.destroyed) return;
    call.write(encoded ? (encoded as unknown as Res) : r);
  };
  const stream =
    kind === 'sotw'
      ? new SotwStream(opts, send as unknown as (r: DiscoveryResponse, encoded: Uint8Array) => void)
      : new DeltaStream(opts, send as unknown as (r: DeltaDiscoveryResponse, encoded: Uint8Array) => void);
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    stream.close();
  };
  call.on('data', (req: Req) => {
    try {
      (stream as { onRequest(r: Req): void }).onRequest(req);
    } catch (e) {
      opts.logger.warn({ err: e }, 'stream request rejected');
      finish();
      fail(call, e);
    }
  });
  call.on('end', () => {
    finish();
    call.end();
  });
  call.on('cancelled', finish);
  call.on('close', finish);
  call.on('error', finish);
}

function perType(deps: XdsServerDeps, t: TypeUrl) {
  return {
    stream: (call: Duplex<DiscoveryRequest, DiscoveryResponse>) => serveStream(deps, 'sotw', t, call),
    delta: (call: Duplex<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => serveStream(deps, 'delta', t, call),
    fetch: (call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, cb: grpc.sendUnaryData<DiscoveryResponse>) => {
      try {
        const node = bindNode(undefined, call.request.node);
        checkPeer(peerOf(deps, call), node, t, TYPE.secret);
        const set = deps.cache.get(deps.cache.nodeKey(node)).resources[t];
        const names = call.request.resourceNames.filter((n) => n !== '*');
        const items = names.length ? names.map((n) => set.items.get(n)).filter((r) => r !== undefined) : [...set.items.values()];
        deps.status.sent(node.id, 'fetch', t, set.version, '', items.length);
        cb(null, DiscoveryResponse.fromPartial({ versionInfo: set.version, typeUrl: t, resources: items.map((r) => r.any), controlPlane: { identifier: deps.controlPlaneId } }));
      } catch (e) {
        cb(toGrpcError(e) as grpc.ServiceError);
      }
    },
  };
}

type MethodDefs = Record<string, { responseSerialize: (value: never) => Buffer }>;

/**
 * A service definition whose responses may also be given as their protobuf
 * bytes (a Uint8Array), written as they are; any other value is encoded by the
 * generated serializer as before.
 */
export function rawResponses<S extends MethodDefs>(service: S): S {
  const out: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(service)) {
    const encode = m.responseSerialize as (value: unknown) => Buffer;
    out[name] = { ...m, responseSerialize: (v: unknown): Buffer => (v instanceof Uint8Array ? (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)) : encode(v)) };
  }
  return out as S;
}

/** A grpc.Server with every xDS service and reflection registered (not yet bound). */
export function createXdsGrpcServer(deps: XdsServerDeps, options: grpc.ServerOptions = {}): grpc.Server {
  const server = new grpc.Server({
    // Thousands of long-lived streams: keep them alive, bound message size.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
    ...options,
  });
  server.addService(rawResponses(AggregatedDiscoveryServiceService), {
    streamAggregatedResources: (call: Duplex<DiscoveryRequest, DiscoveryResponse>) => serveStream(deps, 'sotw', undefined, call),
    deltaAggregatedResources: (call: Duplex<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => serveStream(deps, 'delta', undefined, call),
  });
  const c = perType(deps, TYPE.cluster);
  server.addService(rawResponses(ClusterDiscoveryServiceService), { streamClusters: c.stream, deltaClusters: c.delta, fetchClusters: c.fetch });
  const l = perType(deps, TYPE.listener);
  server.addService(rawResponses(ListenerDiscoveryServiceService), { streamListeners: l.stream, deltaListeners: l.delta, fetchListeners: l.fetch });
  const r = perType(deps, TYPE.route);
  server.addService(rawResponses(RouteDiscoveryServiceService), { streamRoutes: r.stream, deltaRoutes: r.delta, fetchRoutes: r.fetch });
  const e = perType(deps, TYPE.endpoint);
  server.addService(rawResponses(EndpointDiscoveryServiceService), { streamEndpoints: e.stream, deltaEndpoints: e.delta, fetchEndpoints: e.fetch });
  const s = perType(deps, TYPE.secret);
  server.addService(rawResponses(SecretDiscoveryServiceService), { streamSecrets: s.stream, deltaSecrets: s.delta, fetchSecrets: s.fetch });
  addReflection(server, XDS_SERVICES);
  return server;
}
