// Shared test fixtures: small snapshots and a queued ADS client over real gRPC.
import * as grpc from '@grpc/grpc-js';
import { AggregatedDiscoveryServiceClient } from '../../proto/gen/envoy/service/discovery/v3/ads.ts';
import { DeltaDiscoveryRequest, DiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryResponse } from '../../proto/gen/envoy/service/discovery/v3/discovery.ts';
import { Cluster_DiscoveryType } from '../../proto/gen/envoy/config/cluster/v3/cluster.ts';
import { createSnapshot, type Snapshot, type DeepPartial } from '../../control-plane/core/xds/snapshot.ts';
import type { Secret } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret.ts';
import { UpstreamTlsContext } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls.ts';

const UTLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const pack = (typeUrl: string, value: Uint8Array) => ({ typeUrl, value: Buffer.from(value) });

export function edsSnapshot(label: string, clusters: Record<string, number>, connectTimeoutS = 1): Snapshot {
  return createSnapshot(label, {
    clusters: Object.keys(clusters).map((name) => ({ name, type: Cluster_DiscoveryType.EDS, edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 2 } }, connectTimeout: { seconds: connectTimeoutS } })),
    endpoints: Object.entries(clusters).map(([name, port]) => ({
      clusterName: name,
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: port } } } }] }],
    })),
  });
}

export class Queue<T> {
  private items: T[] = [];
  private waiters: Array<(v: T) => void> = [];
  push(v: T): void {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.items.push(v);
  }
  next(timeoutMs = 3000): Promise<T> {
    const v = this.items.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== done);
        reject(new Error('timed out waiting for a response'));
      }, timeoutMs);
      const done = (x: T) => {
        clearTimeout(t);
        resolve(x);
      };
      this.waiters.push(done);
    });
  }
  /** Resolves true if nothing arrives within ms. */
  async quiet(ms: number): Promise<boolean> {
    try {
      const v = await this.next(ms);
      this.items.unshift(v);
      return false;
    } catch {
      return true;
    }
  }
}

/** An ADS client to a loopback port or a target (e.g. unix:/path), plaintext unless credentials are given. */
export function adsClient(target: number | string, credentials = grpc.credentials.createInsecure()) {
  return new AggregatedDiscoveryServiceClient(typeof target === 'number' ? `127.0.0.1:${target}` : target, credentials);
}

/**
 * A snapshot holding `secrets`, of which the cluster "app" references
 * `referenced` over SDS (an upstream TLS context): a node is served only those.
 */
export function sdsSnapshot(label: string, secrets: DeepPartial<Secret>[], referenced: string[]): Snapshot {
  const [cert, ...cas] = referenced;
  const tls = UpstreamTlsContext.fromPartial({
    commonTlsContext: {
      ...(cert ? { tlsCertificateSdsSecretConfigs: [{ name: cert, sdsConfig: { ads: {}, resourceApiVersion: 2 } }] } : {}),
      ...(cas[0] ? { validationContextSdsSecretConfig: { name: cas[0], sdsConfig: { ads: {}, resourceApiVersion: 2 } } } : {}),
    },
  });
  return createSnapshot(label, {
    clusters: [{ name: 'app', connectTimeout: { seconds: 1 }, transportSocket: { name: 'envoy.transport_sockets.tls', typedConfig: pack(UTLS_TYPE, UpstreamTlsContext.encode(tls).finish()) } }],
    secrets,
  });
}

export function sotw(client: InstanceType<typeof AggregatedDiscoveryServiceClient>) {
  const call = client.streamAggregatedResources();
  const q = new Queue<DiscoveryResponse>();
  const errors: Error[] = [];
  call.on('data', (r: DiscoveryResponse) => q.push(r));
  call.on('error', (e: Error) => errors.push(e));
  return { call, q, errors, send: (r: DeepPartial<DiscoveryRequest>) => call.write(DiscoveryRequest.fromPartial(r as never)) };
}

export function delta(client: InstanceType<typeof AggregatedDiscoveryServiceClient>) {
  const call = client.deltaAggregatedResources();
  const q = new Queue<DeltaDiscoveryResponse>();
  const errors: Error[] = [];
  call.on('data', (r: DeltaDiscoveryResponse) => q.push(r));
  call.on('error', (e: Error) => errors.push(e));
  return { call, q, errors, send: (r: DeepPartial<DeltaDiscoveryRequest>) => call.write(DeltaDiscoveryRequest.fromPartial(r as never)) };
}
