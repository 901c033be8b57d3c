// The replicated view of the audit: with the NATS store, each CM replica also
// publishes every durable audit record (those of one group commit in one
// message) to one JetStream stream (subject
// `<prefix>.<replica>`) and follows that stream, so each replica's recent
// decisions (GET /api/v1/audit/recent, the control plane's status page) hold
// the decisions of every replica, and operators read one stream instead of a
// file per replica. Each replica's hash-chained file stays its record of truth:
// a record that fails to publish is counted and logged, never a failed request.
import { randomUUID } from 'node:crypto';
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { DeliverPolicy, RetentionPolicy, StorageType, nanos } from 'nats';
import type { Logger } from 'pino';
import { CmError } from '../errors.ts';
import type { AuditRecord } from './audit-log.ts';

export interface AuditStreamOptions {
  /** JetStream stream name. */
  stream: string;
  /** Subjects are `<subjectPrefix>.<replica>`. */
  subjectPrefix: string;
  /** This replica's name (a subject token). */
  replica: string;
  /** JetStream replicas of the stream when created. */
  replicas: number;
  /** Records older than this are dropped by the stream. */
  maxAgeDays: number;
}

/** One record as the stream's followers see it: as the replica's file holds it, and who wrote it. */
export interface ReplicaAuditRecord {
  replica: string;
  /** The publishing process (random per start): tells two CMs that share a replica name apart. */
  instance?: string;
  record: AuditRecord;
}

/**
 * One stream message: the records made durable together (one group commit),
 * in file order. Messages of earlier versions carry one `record` instead.
 */
export interface AuditStreamMessage {
  replica: string;
  instance?: string;
  records?: AuditRecord[];
  record?: AuditRecord;
}

/** Records per message at most (a group commit is usually far smaller). */
const MAX_BATCH_RECORDS = 256;
/** Bytes of records per message at most (JetStream's default max_payload is 1 MiB). */
const MAX_BATCH_BYTES = 256 * 1024;

/** The records of a stream message, either shape; undefined when it is not one. */
export function recordsOf(m: unknown): ReplicaAuditRecord[] | undefined {
  const v = m as AuditStreamMessage | undefined;
  if (typeof v?.replica !== 'string') return undefined;
  const list = Array.isArray(v.records) ? v.records : v.record ? [v.record] : undefined;
  if (!list?.length || !list.every((r) => r && typeof r.action === 'string')) return undefined;
  return list.map((record) => ({ replica: v.replica, ...(v.instance !== undefined ? { instance: v.instance } : {}), record }));
}

/** A subject token from a host name or pod name: `.`, `*`, `>` and spaces are not allowed. */
export function replicaToken(name: string): string {
  const t = name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  return t || 'cm';
}

/** Where the stream reports trouble (metrics). */
export interface AuditStreamHooks {
  /** A record was not published (the local log has it). */
  publishFailed(): void;
  /** Another process publishes under this replica name. */
  replicaClash(): void;
}

const NO_HOOKS: AuditStreamHooks = { publishFailed: () => undefined, replicaClash: () => undefined };

export class AuditStream {
  private readonly pending = new Set<Promise<void>>();
  private readonly batch: AuditRecord[] = [];
  private stopFollow?: () => void;
  private following?: Promise<void>;
  private clashWarned = false;
  /** This process among the publishers of `replica`. */
  readonly instance = randomUUID();

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly options: AuditStreamOptions,
    private readonly log: Logger,
    private readonly hooks: AuditStreamHooks,
  ) {}

  /** Creates the stream unless it exists (an existing one is used as it is). */
  static async open(nc: NatsConnection, options: AuditStreamOptions, log: Logger, hooks: AuditStreamHooks = NO_HOOKS): Promise<AuditStream> {
    if (replicaToken(options.replica) !== options.replica) throw new CmError('INVALID_REQUEST', `audit replica name ${JSON.stringify(options.replica)} is not a subject token ([A-Za-z0-9_-])`);
    let jsm: JetStreamManager;
    try {
      jsm = await nc.jetstreamManager();
      const exists = await jsm.streams.info(options.stream).then(
        () => true,
        (e: { code?: string }) => {
          if (e.code === '404') return false;
          throw e;
        },
      );
      if (!exists) {
        await jsm.streams.add({
          name: options.stream,
          subjects: [`${options.subjectPrefix}.*`],
          retention: RetentionPolicy.Limits,
          storage: StorageType.File,
          num_replicas: options.replicas,
          max_age: nanos(options.maxAgeDays * 24 * 3600 * 1000),
        });
      }
    } catch (cause) {
      throw new CmError('STORE_UNAVAILABLE', `cannot open the audit stream ${options.stream}`, { cause });
    }
    return new AuditStream(nc.jetstream(), jsm, options, log.child({ auditStream: options.stream }), hooks);
  }

  /**
   * Publishes a durable record; never throws (a failure is counted and logged).
   * Records made durable in one tick (a group commit) go out as one message,
   * one publish acknowledgement for all of them.
   */
  publish(record: AuditRecord): void {
    this.batch.push(record);
    if (this.batch.length === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    const all = this.batch.splice(0);
    for (let i = 0; i < all.length; ) {
      // Each record is serialized once: its JSON both sizes the batch and goes into it.
      const records: AuditRecord[] = [];
      const json: string[] = [];
      let bytes = 0;
      for (; i < all.length && records.length < MAX_BATCH_RECORDS; i++) {
        const one = JSON.stringify(all[i]);
        if (records.length && bytes + one.length > MAX_BATCH_BYTES) break;
        records.push(all[i]!);
        json.push(one);
        bytes += one.length;
      }
      this.send(records, json);
    }
  }

  /** Publishes one AuditStreamMessage of `records`, `json` being their serializations. */
  private send(records: AuditRecord[], json: string[]): void {
    const head: Omit<AuditStreamMessage, 'records'> = { replica: this.options.replica, instance: this.instance };
    const body = `${JSON.stringify(head).slice(0, -1)},"records":[${json.join(',')}]}`;
    const last = records[records.length - 1]!;
    const p = this.js
      .publish(`${this.options.subjectPrefix}.${this.options.replica}`, body, { msgID: `${this.options.replica}-${last.hash}` })
      .then(
        () => undefined,
        (e: Error) => {
          for (const _ of records) this.hooks.publishFailed();
          this.log.warn({ seqs: [records[0]!.seq, last.seq], err: e.message }, 'audit records not published to the stream (the local audit log has them)');
        },
      )
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /**
   * Calls `onRecord` for the last `backlog` records of the stream (`past`: true)
   * and then for every new one, in stream order, until close(). Records that do
   * not parse are skipped.
   */
  async follow(onRecord: (r: ReplicaAuditRecord, past: boolean) => void, backlog: number): Promise<void> {
    const last = (await this.jsm.streams.info(this.options.stream)).state.last_seq;
    const start = Math.max(1, last - backlog + 1);
    const consumer = await this.js.consumers.get(this.options.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start });
    const messages = await consumer.consume();
    this.stopFollow = () => void messages.stop();
    this.following = (async () => {
      for await (const m of messages) {
        let rs: ReplicaAuditRecord[] | undefined;
        try {
          rs = recordsOf(m.json<unknown>());
        } catch {
          rs = undefined;
        }
        if (!rs) {
          this.log.warn({ seq: m.seq }, 'audit stream message is not an audit record; skipped');
          continue;
        }
        const past = m.seq <= last;
        const r0 = rs[0]!;
        if (!past && r0.replica === this.options.replica && r0.instance !== undefined && r0.instance !== this.instance && !this.clashWarned) {
          this.clashWarned = true;
          this.hooks.replicaClash();
          this.log.error({ replica: r0.replica }, 'another capsule manager publishes audit records under this replica name: set audit.replica on each so the recent decisions show both');
        }
        for (const r of rs) onRecord(r, past);
      }
    })().catch((e: Error) => this.log.warn({ err: e.message }, 'audit stream follower stopped'));
  }

  /** Waits for publishes in flight, stops following. */
  async close(): Promise<void> {
    this.flush();
    await Promise.allSettled([...this.pending]);
    this.stopFollow?.();
    await this.following;
  }
}
