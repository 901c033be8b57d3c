// The replicated store: NATS JetStream KV, so several capsule manager replicas
// share one state. Every update is a compare-and-set on the key's revision
// (KV update with the expected sequence), creates fail if the key exists.
import { connect, type JetStreamManager, type KV, type NatsConnection } from 'nats';
import { natsSecurityOptions, type NatsSecurity } from '../../net/nats-connection.ts';
import { CmError } from '../errors.ts';
import { checkKey, type KvEntry, type Store } from '../core/store.ts';
import { NatsReadCache, type NatsReadCacheOptions } from './nats-read-cache.ts';

export interface NatsStoreOptions extends NatsSecurity {
  servers: string | string[];
  bucket?: string;
  /** Replicas of the KV stream (1 for a single nats-server). */
  replicas?: number;
  timeoutMs?: number;
  /**
   * Serve reads from a watched mirror of the bucket behind a read barrier
   * (nats-read-cache.ts): linearizable like a KV get, one shared STREAM.INFO
   * instead of a get per key. Default true.
   */
  readCache?: boolean;
  /** Options of the mirror (which prefixes it skips, its barrier timeout, state changes). */
  readCacheOptions?: NatsReadCacheOptions;
}

function isSeqMismatch(e: unknown): boolean {
  const m = String((e as Error)?.message ?? e);
  return /wrong last sequence|key exists/i.test(m);
}

const MISS = Symbol('mirror behind');

export class NatsStore implements Store {
  readonly kind = 'nats' as const;
  private constructor(
    /** The store's NATS connection (the audit stream shares it). */
    readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    readonly bucket: string,
    /** The read mirror; undefined when readCache is false. */
    readonly cache: NatsReadCache | undefined,
  ) {}

  static async open(opts: NatsStoreOptions): Promise<NatsStore> {
    const security = natsSecurityOptions(opts, 'storage.nats');
    let nc: NatsConnection;
    try {
      // noAsyncTraces: nats.js otherwise captures a stack trace per request
      // (a read barrier, a publish acknowledgement), ~10% of a release's CPU.
      nc = await connect({ servers: opts.servers, timeout: opts.timeoutMs ?? 5000, name: 'aenv-capsule-manager', noAsyncTraces: true, ...security });
    } catch (cause) {
      throw new CmError('STORE_UNAVAILABLE', `cannot connect to NATS at ${String(opts.servers)}`, { cause });
    }
    try {
      const bucket = opts.bucket ?? 'aenv_capsule_manager';
      const kv = await nc.jetstream().views.kv(bucket, { history: 1, replicas: opts.replicas ?? 1 });
      const jsm = await nc.jetstreamManager({ timeout: opts.timeoutMs ?? 5000 });
      const cache = opts.readCache === false ? undefined : await NatsReadCache.start(nc, kv, `KV_${bucket}`, { requestTimeoutMs: opts.timeoutMs ?? 5000, ...opts.readCacheOptions });
      return new NatsStore(nc, kv, jsm, bucket, cache);
    } catch (cause) {
      await nc.close().catch(() => undefined);
      throw new CmError('STORE_UNAVAILABLE', 'cannot open the JetStream KV bucket (is JetStream enabled?)', { cause });
    }
  }

  async get(key: string): Promise<KvEntry | undefined> {
    checkKey(key);
    if (this.cache?.holds(key)) {
      const r = await this.readBarrier(() => this.cache!.get(key, MISS));
      if (r !== MISS) return r;
    }
    return this.kvGet(key);
  }

  /** A read of the mirror; STORE_UNAVAILABLE when the barrier cannot be asked (NATS down). */
  private async readBarrier<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (cause) {
      throw new CmError('STORE_UNAVAILABLE', 'NATS KV read barrier (STREAM.INFO) failed', { cause });
    }
  }

  private async kvGet(key: string): Promise<KvEntry | undefined> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT') return undefined;
    return { key, value: Buffer.from(e.value), revision: e.revision };
  }

  async create(key: string, value: Buffer): Promise<number> {
    checkKey(key);
    try {
      return await this.kv.create(key, value);
    } catch (e) {
      if (isSeqMismatch(e)) throw new CmError('ALREADY_EXISTS', `${key} already exists`);
      throw new CmError('STORE_UNAVAILABLE', 'NATS KV create failed', { cause: e });
    }
  }

  async update(key: string, value: Buffer, revision: number): Promise<number> {
    checkKey(key);
    try {
      return await this.kv.update(key, value, revision);
    } catch (e) {
      if (isSeqMismatch(e)) {
        if (!(await this.get(key))) throw new CmError('NOT_FOUND', `${key} does not exist`);
        throw new CmError('CONFLICT', `${key} changed (expected revision ${revision})`);
      }
      throw new CmError('STORE_UNAVAILABLE', 'NATS KV update failed', { cause: e });
    }
  }

  async delete(key: string, revision?: number): Promise<void> {
    checkKey(key);
    const cur = await this.get(key);
    if (!cur) throw new CmError('NOT_FOUND', `${key} does not exist`);
    try {
      // previousSeq makes the delete itself a compare-and-set.
      await this.kv.delete(key, { previousSeq: revision ?? cur.revision });
    } catch (e) {
      if (isSeqMismatch(e)) throw new CmError('CONFLICT', `${key} changed`);
      throw new CmError('STORE_UNAVAILABLE', 'NATS KV delete failed', { cause: e });
    }
  }

  async list(prefix: string): Promise<KvEntry[]> {
    if (prefix !== '') checkKey(prefix);
    if (prefix !== '' && this.cache?.holds(prefix)) {
      const r = await this.readBarrier(() => this.cache!.list(prefix, MISS));
      if (r !== MISS) return r;
    }
    // Not kv.keys(): that creates a temporary consumer, and while a node of a
    // JetStream cluster is down that often hangs until the client deadline.
    // STREAM.INFO with a subjects filter is answered by the stream leader
    // alone (nats.js pages it); kv.get is not affected by a lost node either.
    const subjectPrefix = `$KV.${this.bucket}.`;
    let subjects: Record<string, number> | undefined;
    try {
      const info = await this.jsm.streams.info(`KV_${this.bucket}`, { subjects_filter: `${subjectPrefix}${prefix === '' ? '>' : `${prefix}.>`}` });
      subjects = info.state.subjects;
    } catch (cause) {
      throw new CmError('STORE_UNAVAILABLE', 'NATS KV list failed', { cause });
    }
    const keys = Object.keys(subjects ?? {})
      .filter((s) => s.startsWith(subjectPrefix))
      .map((s) => s.slice(subjectPrefix.length))
      .sort();
    const out: KvEntry[] = [];
    // A key whose last entry is a delete/purge marker still has a subject in
    // the stream; get() drops it, as the keys()-based listing did.
    for (const k of keys) {
      const e = await this.kvGet(k);
      if (e) out.push(e);
    }
    return out;
  }

  async close(): Promise<void> {
    this.cache?.close();
    await this.nc.drain().catch(() => undefined);
  }
}
