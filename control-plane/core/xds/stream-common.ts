// What a SotW and a delta stream share: the node bound on the first request,
// the cache watch and the connect/disconnect status that go with it, and which
// type URLs a request may name. The protocol state machines themselves stay in
// sotw-stream.ts and delta-stream.ts.
import type { Logger } from 'pino';
import type { Node } from '../../../proto/gen/envoy/config/core/v3/base.ts';
import { ControlPlaneError } from '../../errors.ts';
import type { SnapshotCache } from './cache.ts';
import type { Snapshot } from './snapshot.ts';
import type { XdsStatus } from './status.ts';
import { bindNode, type StreamNode } from './node-binding.ts';
import { isTypeUrl, TYPE, type TypeUrl } from './type-urls.ts';

const TYPE_SECRET = TYPE.secret;

export interface StreamOptions {
  cache: SnapshotCache;
  status: XdsStatus;
  logger: Logger;
  /** For a single-type service (CDS, SDS, ...): the only type it serves. */
  fixedType?: TypeUrl;
  controlPlaneId: string;
  /** Who is on the other end of this stream (the transport tells). */
  peer?: StreamPeer;
}

/**
 * What the transport knows of a stream's client. `unix`: a co-located Envoy
 * the socket's permissions admitted; `mtls`: a client certificate naming the
 * node ids it may speak for; `tcp`: plaintext loopback, where any local process
 * could be asking.
 */
export interface StreamPeer {
  kind: 'unix' | 'mtls' | 'tcp';
  /** mtls: the node ids the certificate names (URI SAN aenv://node/<id>, else its CN). */
  nodeIds?: string[];
  /** tcp: serve secrets anyway (development only: xds.secretsOverLoopbackTcp). */
  secretsOverTcp?: boolean;
}

/** Refuses a node the peer may not speak for, and secrets where nobody can tell who asks. */
export function checkPeer(peer: StreamPeer | undefined, node: StreamNode, typeUrl: string, secretType: string): void {
  if (!peer) return;
  if (peer.kind === 'mtls' && !(peer.nodeIds ?? []).includes(node.id)) {
    throw new ControlPlaneError('NODE_ID_MISMATCH', `node id "${node.id}" is not the node the client certificate names (${(peer.nodeIds ?? []).join(', ') || 'none'})`);
  }
  if (typeUrl === secretType && peer.kind === 'tcp' && !peer.secretsOverTcp) {
    throw new ControlPlaneError('SECRETS_REFUSED', 'secrets are served only over the Unix socket (xds.socket) or mutual TLS (xds.tls), never over plaintext TCP');
  }
}

export abstract class XdsStream<TypeState> {
  protected node?: StreamNode;
  protected readonly types = new Map<TypeUrl, TypeState>();
  private nonceCounter = 0;
  private unwatch?: () => void;
  protected closed = false;
  protected log: Logger;

  constructor(
    protected readonly opts: StreamOptions,
    private readonly mode: 'sotw' | 'delta',
  ) {
    this.log = opts.logger;
  }

  get nodeId(): string | undefined {
    return this.node?.id;
  }

  /** Pushes a new snapshot of this stream's node to the client. */
  protected abstract onSnapshot(snap: Snapshot): void;

  /**
   * The common start of every request: binds the node (the first request
   * registers the watch), then checks the type URL. Returns the bound node and
   * the served type, or undefined when the request is to be ignored (stream
   * closed, or a type this control plane does not serve).
   */
  protected accept(req: { node?: Node; typeUrl: string }): { node: StreamNode; typeUrl: TypeUrl } | undefined {
    if (this.closed) return undefined;
    const first = !this.node;
    const node = bindNode(this.node, req.node);
    if (first) checkPeer(this.opts.peer, node, '', TYPE_SECRET);
    this.node = node;
    if (first) {
      this.log = this.log.child({ nodeId: node.id });
      this.opts.status.connected(node.id, node.cluster, this.mode);
      this.unwatch = this.opts.cache.watch(this.opts.cache.nodeKey(node), (s) => this.onSnapshot(s));
    }
    const typeUrl = req.typeUrl || this.opts.fixedType || '';
    if (this.opts.fixedType && typeUrl !== this.opts.fixedType) throw new ControlPlaneError('UNKNOWN_TYPE', `this service serves ${this.opts.fixedType}, not ${typeUrl}`);
    checkPeer(this.opts.peer, node, typeUrl, TYPE_SECRET);
    if (!isTypeUrl(typeUrl)) {
      // Not an error for Envoy: a type this control plane does not serve stays empty.
      this.log.debug({ typeUrl }, 'request for an unserved type ignored');
      return undefined;
    }
    return { node, typeUrl };
  }

  protected nextNonce(): string {
    return (++this.nonceCounter).toString(36);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch?.();
    if (this.node) this.opts.status.disconnected(this.node.id, this.mode);
  }
}
