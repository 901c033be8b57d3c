// Child process of bench/xds-fanout.ts: N simulated Envoys, each one ADS stream
// (SotW or delta) subscribed to LDS+CDS (wildcard) and one RDS resource, that
// ACK every response immediately. Kept out of the control plane's process so
// its CPU and memory do not pollute the measurement.
// usage: xds-fanout-clients.ts <port> <count> <sotw|delta> <nodePrefix> [streamsPerConnection]
// streamsPerConnection 1: every simulated Envoy on its own HTTP/2 connection, as real ones are.
import * as grpc from '@grpc/grpc-js';
import { AggregatedDiscoveryServiceClient } from '../proto/gen/envoy/service/discovery/v3/ads.ts';
import { DeltaDiscoveryRequest, DiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryResponse } from '../proto/gen/envoy/service/discovery/v3/discovery.ts';

const [portArg, countArg, mode, prefix, perConnArg] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const ROUTE = 'edge_routes';
const STREAMS_PER_CHANNEL = Math.max(1, Number(perConnArg ?? 100));

const clients: Array<InstanceType<typeof AggregatedDiscoveryServiceClient>> = [];
const calls: Array<{ end(): void }> = [];
// Connections open in waves of 250 every 50 ms: 10,000 connects at once overflow the
// server's accept queue (Node listens with backlog 511; TcpExtListenOverflows), and the
// dropped clients then sit in gRPC's reconnect backoff for minutes.
const WAVE = 250;
for (let i = 0; i < count; i++) {
  if (i > 0 && i % (WAVE * STREAMS_PER_CHANNEL) === 0) await new Promise((r) => setTimeout(r, 50));
  if (i % STREAMS_PER_CHANNEL === 0) {
    // A channel (one HTTP/2 connection) per STREAMS_PER_CHANNEL streams.
    clients.push(new AggregatedDiscoveryServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  }
  const client = clients[clients.length - 1]!;
  const node = { id: `${prefix}-${i}`, cluster: 'bench' };
  if (mode === 'delta') {
    const call = client.deltaAggregatedResources();
    call.on('data', (r: DeltaDiscoveryResponse) => call.write(DeltaDiscoveryRequest.fromPartial({ typeUrl: r.typeUrl, responseNonce: r.nonce })));
    call.on('error', () => undefined);
    call.write(DeltaDiscoveryRequest.fromPartial({ node, typeUrl: LDS }));
    call.write(DeltaDiscoveryRequest.fromPartial({ typeUrl: CDS }));
    call.write(DeltaDiscoveryRequest.fromPartial({ typeUrl: RDS, resourceNamesSubscribe: [ROUTE] }));
    calls.push(call);
  } else {
    const call = client.streamAggregatedResources();
    call.on('data', (r: DiscoveryResponse) =>
      call.write(DiscoveryRequest.fromPartial({ typeUrl: r.typeUrl, versionInfo: r.versionInfo, responseNonce: r.nonce, resourceNames: r.typeUrl === RDS ? [ROUTE] : [] })),
    );
    call.on('error', () => undefined);
    call.write(DiscoveryRequest.fromPartial({ node, typeUrl: LDS }));
    call.write(DiscoveryRequest.fromPartial({ typeUrl: CDS }));
    call.write(DiscoveryRequest.fromPartial({ typeUrl: RDS, resourceNames: [ROUTE] }));
    calls.push(call);
  }
}
process.send?.({ opened: count });
process.on('message', (m: { stop?: boolean }) => {
  if (m.stop) {
    for (const c of calls) c.end();
    for (const c of clients) c.close();
    setTimeout(() => process.exit(0), 100);
  }
});
