// A replica's read mirror of the JetStream KV bucket that stays linearizable:
// a watch (an ordered consumer over the bucket's stream) applies every entry in
// stream order, and a read first takes a *read barrier*: the stream's last
// sequence, asked of the stream leader after the read began, then waits until
// the mirror has applied at least that far. So a read served here sees every
// write acknowledged (on any replica) before it began: a data key deleted or a
// policy narrowed on replica A is never released from B's mirror afterwards.
//
// One barrier request serves every read that began before it was sent (reads
// arriving while one is on the wire join the next), so under load a release
// costs a share of one STREAM.INFO instead of a KV get per key it reads. The
// same idea as etcd's ReadIndex.
//
// Fail closed to the slow path, never to a stale answer: when the barrier is
// not reached in `barrierTimeoutMs` (the watch stalled, a node of the cluster
// went away, a marker the watch never sees was removed) the mirror is marked
// behind and reads go straight to the KV (as without a mirror) until a
// background barrier is reached again. Keys under `uncachedPrefixes` (the
// per-request nonces: written once, many, short-lived) are never held; list('')
// is never served from here.
import { createInbox, KvWatchInclude, type KV, type KvEntry as NatsKvEntry, type Msg, type NatsConnection, type QueuedIterator, type Subscription } from 'nats';
import type { KvEntry } from '../core/store.ts';

export interface NatsReadCacheOptions {
  /** First key tokens the mirror does not hold (reads of them go to the KV). */
  uncachedPrefixes?: readonly string[];
  /** How long a read waits for the mirror to reach its barrier before it goes to the KV. */
  barrierTimeoutMs?: number;
  /** How long a barrier's STREAM.INFO may take before the read fails (STORE_UNAVAILABLE). */
  requestTimeoutMs?: number;
  /** Told when the mirror falls behind or catches up again. */
  onState?: (state: 'current' | 'behind', why: string) => void;
}

export interface NatsReadCacheStats {
  state: 'current' | 'behind' | 'closed';
  entries: number;
  /** Stream sequence of the last entry applied. */
  applied: number;
  barriers: number;
  /** Reads served by the mirror / sent to the KV because the mirror was behind. */
  hits: number;
  bypassed: number;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

const EMPTY = new Uint8Array(0);

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class NatsReadCache {
  private readonly entries = new Map<string, { value: Buffer; revision: number }>();
  private readonly uncached: ReadonlySet<string>;
  private readonly barrierTimeoutMs: number;
  private applied = 0;
  /** Reads waiting for `applied >= seq`; seqs never decrease (barriers are sequential). */
  private readonly waiters: Array<{ seq: number; done: (reached: boolean) => void }> = [];
  /** The barrier request on the wire, and the one that callers arriving meanwhile wait for. */
  private sending = false;
  private scheduled = false;
  private queued: Deferred<number> | undefined;
  private current = true;
  private probing = false;
  private closed = false;
  private watch: QueuedIterator<NatsKvEntry> | undefined;
  private readonly counters = { barriers: 0, hits: 0, bypassed: 0 };

  private readonly inbox: string;
  private readonly replies: Subscription;
  private barrierNo = 0;
  private answer: ((no: number, m: Msg) => void) | undefined;
  private readonly requestTimeoutMs: number;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly stream: string,
    private readonly opts: NatsReadCacheOptions,
  ) {
    this.uncached = new Set(opts.uncachedPrefixes ?? []);
    this.barrierTimeoutMs = opts.barrierTimeoutMs ?? 1000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.inbox = createInbox();
    this.replies = nc.subscribe(`${this.inbox}.*`, {
      callback: (_err, m) => {
        const no = Number(m.subject.slice(this.inbox.length + 1));
        this.answer?.(no, m);
      },
    });
  }

  /** `stream` is the bucket's stream (KV_<bucket>); `kv` the bucket on `nc`. */
  static async start(nc: NatsConnection, kv: KV, stream: string, opts: NatsReadCacheOptions = {}): Promise<NatsReadCache> {
    const c = new NatsReadCache(nc, kv, stream, opts);
    try {
      await c.startWatch();
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  /** Whether `key` is one the mirror holds. */
  holds(key: string): boolean {
    const dot = key.indexOf('.');
    return !this.uncached.has(dot < 0 ? key : key.slice(0, dot));
  }

  /**
   * The entry as of a barrier taken now; undefined when absent. `miss` is
   * returned instead when the mirror is behind (the caller reads the KV).
   */
  async get<M>(key: string, miss: M): Promise<KvEntry | undefined | M> {
    if (!(await this.barrier())) return miss;
    this.counters.hits++;
    const e = this.entries.get(key);
    return e && { key, value: e.value, revision: e.revision };
  }

  /** Live entries under `prefix` (a held one), sorted by key, as of a barrier; `miss` when behind. */
  async list<M>(prefix: string, miss: M): Promise<KvEntry[] | M> {
    if (!(await this.barrier())) return miss;
    this.counters.hits++;
    const start = `${prefix}.`;
    const out: KvEntry[] = [];
    for (const [key, e] of this.entries) if (key.startsWith(start)) out.push({ key, value: e.value, revision: e.revision });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  stats(): NatsReadCacheStats {
    return { state: this.closed ? 'closed' : this.current ? 'current' : 'behind', entries: this.entries.size, applied: this.applied, ...this.counters };
  }

  close(): void {
    this.closed = true;
    this.watch?.stop();
    this.replies.unsubscribe();
    for (const w of this.waiters.splice(0)) w.done(false);
    this.entries.clear();
  }

  /** True once the mirror has applied everything acknowledged before this call. */
  private async barrier(): Promise<boolean> {
    if (this.closed) return false;
    if (!this.current) {
      this.counters.bypassed++;
      this.probe();
      return false;
    }
    // A failed STREAM.INFO (NATS down) is thrown: the KV read would fail the same way.
    const seq = await this.lastSeqAfterNow();
    if (await this.reach(seq)) return true;
    // A stalled watch (its consumer lost with a node, or deleted) is not waited
    // for: it is stopped, and the loop in startWatch starts a fresh one (by the
    // read that found it behind, not by every read that waited with it).
    if (this.fallBehind(`the watch did not reach stream sequence ${seq} within ${this.barrierTimeoutMs} ms`)) this.watch?.stop();
    this.counters.bypassed++;
    return false;
  }

  /**
   * The stream's last sequence, from a request sent after this call. Callers
   * of one tick share one request (the reads a release makes at once); callers
   * arriving while a request is on the wire share the next.
   */
  private lastSeqAfterNow(): Promise<number> {
    this.queued ??= deferred<number>();
    const p = this.queued.promise;
    if (!this.sending && !this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.sendBarrier());
    }
    return p;
  }

  private sendBarrier(): void {
    this.scheduled = false;
    const q = this.queued;
    if (!q || this.sending) return;
    this.queued = undefined;
    this.sending = true;
    this.counters.barriers++;
    this.askLastSeq()
      .then(q.resolve, q.reject)
      .finally(() => {
        this.sending = false;
        if (this.queued) this.sendBarrier();
      });
  }

  /**
   * STREAM.INFO on a reply subscription the mirror keeps (one request at a
   * time, so the reply subject's counter is all the matching needed): about
   * half the CPU of a jsm.streams.info() round trip, which builds a request
   * object, a timer and an error per call.
   */
  private askLastSeq(): Promise<number> {
    const n = ++this.barrierNo;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.answer = undefined;
        reject(new Error(`STREAM.INFO ${this.stream}: no answer within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this.answer = (no, m) => {
        if (no !== n) return; // a late answer to a request that timed out
        this.answer = undefined;
        clearTimeout(timer);
        if (m.headers?.hasError || m.data.length === 0) return reject(new Error(`STREAM.INFO ${this.stream}: ${m.headers?.code ?? ''} ${m.headers?.description ?? 'empty answer'}`));
        try {
          const info = JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8')) as { state?: { last_seq?: unknown }; error?: { description?: string } };
          const seq = info.state?.last_seq;
          if (typeof seq !== 'number') return reject(new Error(`STREAM.INFO ${this.stream}: ${info.error?.description ?? 'no state.last_seq'}`));
          resolve(seq);
        } catch (e) {
          reject(e);
        }
      };
      try {
        this.nc.publish(`$JS.API.STREAM.INFO.${this.stream}`, EMPTY, { reply: `${this.inbox}.${n}` });
      } catch (e) {
        this.answer = undefined;
        clearTimeout(timer);
        reject(e);
      }
    });
  }

  private reach(seq: number): Promise<boolean> {
    if (this.applied >= seq) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (reached: boolean): void => {
        clearTimeout(timer);
        resolve(reached);
      };
      const waiter = { seq, done };
      // Not reached in time: the waiter leaves the queue (apply() only wakes the waiting).
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, this.barrierTimeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** True when this call moved the mirror from current to behind. */
  private fallBehind(why: string): boolean {
    if (!this.current || this.closed) return false;
    this.current = false;
    this.opts.onState?.('behind', why);
    return true;
  }

  /** While behind: one background barrier at a time; reached = current again. */
  private probe(): void {
    if (this.probing || this.closed) return;
    this.probing = true;
    let before = this.applied;
    this.lastSeqAfterNow()
      .then((seq) => {
        before = this.applied;
        return this.reach(seq);
      })
      .then(
        (reached) => {
          if (reached && !this.closed && !this.current) {
            this.current = true;
            this.opts.onState?.('current', `the watch reached the stream's last sequence ${this.applied}`);
          } else if (!reached && !this.closed && this.applied === before) {
            // No progress at all while behind: this watch is stalled too; start another.
            this.watch?.stop();
          }
        },
        () => undefined,
      )
      .finally(() => {
        this.probing = false;
      });
  }

  private apply(e: NatsKvEntry): void {
    if (this.holds(e.key)) {
      if (e.operation === 'PUT') this.entries.set(e.key, { value: Buffer.from(e.value), revision: e.revision });
      else this.entries.delete(e.key);
    }
    if (e.revision > this.applied) this.applied = e.revision;
    while (this.waiters.length && this.waiters[0]!.seq <= this.applied) this.waiters.shift()!.done(true);
  }

  /**
   * Every message of the stream in sequence order (DeliverAll: with history 1
   * that is each key's last entry, markers included), then every new one. A
   * restart reloads from the start rather than resuming: a marker removed
   * meanwhile (an operator's purge-deletes) would otherwise leave a dead key.
   */
  private async startWatch(): Promise<void> {
    this.entries.clear();
    this.applied = 0;
    const iter = await this.kv.watch({ key: '>', include: KvWatchInclude.AllHistory });
    this.watch = iter;
    void (async () => {
      try {
        for await (const e of iter) this.apply(e);
      } catch {
        // ended with an error: handled below like any end
      }
      if (this.closed) return;
      this.fallBehind('the KV watch ended');
      this.restartLater();
    })();
    if (this.closed) iter.stop();
  }

  private restartLater(attempt = 0): void {
    const t = setTimeout(() => {
      if (this.closed) return;
      this.startWatch().catch(() => this.restartLater(attempt + 1));
    }, Math.min(5000, 200 * 2 ** attempt));
    t.unref();
  }
}
