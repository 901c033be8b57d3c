// The node identity of a stream: Envoy sends it on the first request only
// (set_node_on_first_message_only), so a stream remembers it.
import type { Node } from '../../../proto/gen/envoy/config/core/v3/base.ts';
import { ControlPlaneError } from '../../errors.ts';

export interface StreamNode {
  id: string;
  cluster: string;
}

export function bindNode(current: StreamNode | undefined, node: Node | undefined): StreamNode {
  if (current) return current;
  if (!node || !node.id) throw new ControlPlaneError('MISSING_NODE', 'the first request of a stream must carry node.id');
  return { id: node.id, cluster: node.cluster };
}
