// Routing replication over a NATS JetStream KV bucket: one key holds the whole
// routing state; writers use compare-and-set on the key's revision, every
// replica watches the key and applies each revision after validating it, so
// all replicas converge on the same state (and the same xDS versions).
// Besides the watch, each replica re-reads the key every few seconds: a watch
// served by a nats-server that died stalls for 8-10 s before the client moves
// it, and the periodic read applies any newer revision meanwhile.
import { connect, type KV, type KvEntry, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { validateConfig } from '../../foundation/config.ts';
import { natsSecurityOptions, type NatsSecurity } from '../../net/nats-connection.ts';
import { RoutingState, EMPTY_ROUTING } from '../core/app-config.ts';
import type { ControlPlaneCore } from '../core/control-plane.ts';
import { ControlPlaneError } from '../errors.ts';
import { applyRoutingChange, type RoutingChange } from '../core/routing.ts';
import type { ReplicationInfo, RoutingSync } from '../core/routing-sync.ts';

export interface NatsRoutingOptions extends NatsSecurity {
  servers: string[];
  bucket: string;
  key: string;
  /** JetStream replicas of the KV bucket when this replica creates it (1..5). */
  replicas?: number;
  /** Period of the reconciliation read; 0 disables it. */
  reconcileSeconds?: number;
}

export const DEFAULT_KV_REPLICAS = 1;
export const DEFAULT_RECONCILE_SECONDS = 2;

const MAX_CAS_RETRIES = 5;

export class NatsRoutingSync implements RoutingSync {
  private lastError?: ReplicationInfo['lastError'];
  private watching?: Promise<void>;
  private stopWatch?: () => void;
  private reconcileTimer?: NodeJS.Timeout;
  private reconciling = false;

  private constructor(
    private readonly core: ControlPlaneCore,
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly opts: NatsRoutingOptions,
    private readonly logger: Logger,
  ) {}

  static async start(core: ControlPlaneCore, opts: NatsRoutingOptions, logger: Logger): Promise<NatsRoutingSync> {
    const security = natsSecurityOptions(opts, 'nats');
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: opts.servers, name: 'aenv-control-plane', maxReconnectAttempts: -1, reconnectTimeWait: 250, ...security });
    } catch (cause) {
      throw new ControlPlaneError('UNAVAILABLE', `cannot connect to NATS at ${opts.servers.join(', ')}`, { cause });
    }
    const replicas = opts.replicas ?? DEFAULT_KV_REPLICAS;
    const log = logger.child({ bucket: opts.bucket, key: opts.key });
    let kv: KV;
    try {
      // Creates the bucket with `replicas` if it does not exist; an existing bucket is used as it is.
      kv = await nc.jetstream().views.kv(opts.bucket, { history: 10, replicas });
      const actual = (await kv.status()).replicas;
      if (actual !== replicas) {
        log.warn({ configured: replicas, actual }, 'routing KV bucket exists with another replica count; using it as it is');
      }
    } catch (cause) {
      await nc.close().catch(() => undefined);
      throw new ControlPlaneError('UNAVAILABLE', `cannot open the routing KV bucket ${opts.bucket} (replicas ${replicas})`, { cause });
    }
    const sync = new NatsRoutingSync(core, nc, kv, opts, log);
    try {
      const initial = await kv.get(opts.key);
      if (initial) sync.apply(initial);
      await sync.watch();
    } catch (cause) {
      // A connection left open would reconnect forever: close it before failing.
      await sync.close().catch(() => undefined);
      throw new ControlPlaneError('UNAVAILABLE', `cannot read the routing key ${opts.key} from bucket ${opts.bucket}`, { cause });
    }
    sync.startReconcile();
    return sync;
  }

  /** Periodic read of the key: applies a newer revision the watch has not delivered (validated the same way). */
  private startReconcile(): void {
    const seconds = this.opts.reconcileSeconds ?? DEFAULT_RECONCILE_SECONDS;
    if (seconds <= 0) return;
    this.reconcileTimer = setInterval(() => void this.reconcile(), seconds * 1000);
    this.reconcileTimer.unref();
  }

  private async reconcile(): Promise<void> {
    if (this.reconciling) return; // a slow read (node loss) must not pile up
    this.reconciling = true;
    try {
      const e = await this.kv.get(this.opts.key);
      if (e && e.revision > this.core.routing.revision) {
        this.logger.info({ revision: e.revision, applied: this.core.routing.revision }, 'reconciliation read found a revision the watch has not delivered');
        this.apply(e);
      }
    } catch (err) {
      this.logger.debug({ error: (err as Error).message }, 'routing reconciliation read failed; retrying next period');
    } finally {
      this.reconciling = false;
    }
  }

  private async watch(): Promise<void> {
    const iter = await this.kv.watch({ key: this.opts.key });
    this.stopWatch = () => iter.stop();
    this.watching = (async () => {
      for await (const e of iter) this.apply(e);
    })().catch((e) => this.logger.error({ err: e }, 'routing watch ended'));
  }

  private decode(e: KvEntry): RoutingState {
    if (e.operation !== 'PUT') return EMPTY_ROUTING;
    return validateConfig(RoutingState, JSON.parse(e.string()), `routing state revision ${e.revision}`);
  }

  /** Applies a replicated revision; an invalid one is recorded and skipped, keeping the last good state. */
  private apply(e: KvEntry): void {
    if (e.revision <= this.core.routing.revision) return;
    // The watch and the reconciliation read may both deliver a rejected revision: record it once.
    if (this.lastError?.revision === e.revision) return;
    try {
      this.core.setRouting(this.decode(e), e.revision);
      this.logger.info({ revision: e.revision }, 'routing revision applied');
    } catch (err) {
      this.lastError = { message: (err as Error).message, revision: e.revision, at: new Date().toISOString() };
      this.logger.error({ revision: e.revision, error: (err as Error).message }, 'replicated routing revision rejected; keeping the last good state');
    }
  }

  async propose(change: RoutingChange): Promise<RoutingState & { revision: number }> {
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const cur = await this.kv.get(this.opts.key);
      const base = cur && cur.operation === 'PUT' ? this.decode(cur) : EMPTY_ROUTING;
      // With schema defaults applied, as every reader's decode() does, so the
      // writing replica holds exactly the state the others apply.
      const next = validateConfig(RoutingState, applyRoutingChange(base, change), 'routing state');
      // Validate against this replica's app config before anyone sees it.
      this.core.check({ routing: next, routingRevision: (cur?.revision ?? 0) + 1 });
      let revision: number;
      try {
        const data = new TextEncoder().encode(JSON.stringify(next));
        revision = cur ? await this.kv.update(this.opts.key, data, cur.revision) : await this.kv.create(this.opts.key, data);
      } catch (e) {
        // Someone else wrote first: re-read and retry on top of their state.
        if (/wrong last sequence|key exists/i.test((e as Error).message)) continue;
        throw new ControlPlaneError('UNAVAILABLE', 'routing store write failed', { cause: e });
      }
      if (revision > this.core.routing.revision) this.core.setRouting(next, revision);
      return this.core.routing;
    }
    throw new ControlPlaneError('CONFLICT', 'routing state changed concurrently too often; retry');
  }

  info(): ReplicationInfo {
    return { mode: 'nats', bucket: this.opts.bucket, key: this.opts.key, appliedRevision: this.core.routing.revision, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  async close(): Promise<void> {
    clearInterval(this.reconcileTimer);
    this.stopWatch?.();
    await this.nc.drain().catch(() => undefined);
    await this.watching;
  }
}
