// Prometheus metrics of the xDS layer, fed by XdsStatus events.
import type { Metrics } from '../../foundation/metrics.ts';
import type { XdsStatus } from '../core/xds/status.ts';

export function wireXdsMetrics(metrics: Metrics, status: XdsStatus): () => void {
  const pushes = metrics.counter('xds_pushes_total', 'xDS responses sent', ['type_url', 'mode']);
  const acks = metrics.counter('xds_acks_total', 'xDS ACKs received', ['type_url', 'mode']);
  const nacks = metrics.counter('xds_nacks_total', 'xDS NACKs received', ['type_url', 'mode']);
  const streams = metrics.gauge('xds_streams', 'open xDS streams', ['mode']);
  const nodes = metrics.gauge('xds_connected_nodes', 'nodes with at least one open xDS stream');
  nodes.set(0);
  return status.onEvent((e) => {
    switch (e.kind) {
      case 'push':
        pushes.inc({ type_url: e.typeUrl, mode: e.mode });
        break;
      case 'ack':
        acks.inc({ type_url: e.typeUrl, mode: e.mode });
        break;
      case 'nack':
        nacks.inc({ type_url: e.typeUrl, mode: e.mode });
        break;
      case 'connect':
        streams.inc({ mode: e.mode });
        nodes.set(status.connectedNodes());
        break;
      case 'disconnect':
        streams.dec({ mode: e.mode });
        nodes.set(status.connectedNodes());
        break;
    }
  });
}
