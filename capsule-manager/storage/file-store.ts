// The embedded default store: everything in memory, made durable by a
// write-ahead log in a directory:
//   wal.log        one line per write: <json>\t<sha256-prefix>\n, fsync'd before
//                  the write is acknowledged (so an acknowledged write survives kill -9).
//                  Group commit: writes that arrive while an fsync is in flight are
//                  checked at once (against the committed state plus the writes
//                  staged before them, so compare-and-set stays exact), appended
//                  together and share the next fsync, which runs off the event loop.
//                  A write becomes visible to readers when it is acknowledged.
//   snapshot.json  periodic compaction: written to a temp file, fsync'd, renamed
//                  over the old one, directory fsync'd; then the log is truncated
//   lock           the owning pid (one process per directory)
// On open: snapshot, then the log replayed (entries at or below the snapshot's
// sequence skipped); a torn last line (crash mid-append) is cut off, damage
// anywhere else is reported as STORE_CORRUPT rather than silently dropped.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, write, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CmError } from '../errors.ts';
import { checkKey, type KvEntry, type Store } from '../core/store.ts';

interface Rec {
  op: 'put' | 'del';
  key: string;
  rev: number;
  v?: string;
}

export interface FileStoreOptions {
  dir: string;
  /** Compact after this many log records (default 1000). */
  compactEvery?: number;
}

/** Directories this process has open (the lock file alone cannot tell). */
const OPEN_DIRS = new Set<string>();

function digest(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FileStore implements Store {
  readonly kind = 'file' as const;
  private readonly data = new Map<string, { value: Buffer; revision: number }>();
  private seq = 0;
  private walFd = -1;
  private walRecords = 0;
  /** Checked writes not yet durable, by key (undefined = deleted): what the next write's checks see. */
  private readonly staged = new Map<string, { value: Buffer | undefined; revision: number }>();
  /** Highest sequence number handed out (committed or staged). */
  private stagedSeq = 0;
  /** The batch waiting for the next fsync. */
  private batch: Array<{ rec: Rec; done: (e?: Error) => void }> = [];
  private flushing: Promise<void> | undefined;
  /** Set when a write or fsync failed: the log's tail is unknown, so nothing more is written. */
  private broken: Error | undefined;
  private closed = false;
  private readonly compactEvery: number;
  /** Batches made durable (one write + one fsync each) and the records in them. */
  readonly commits = { batches: 0, records: 0 };

  private constructor(private readonly dir: string, compactEvery: number) {
    this.compactEvery = compactEvery;
  }

  static async open(opts: FileStoreOptions): Promise<FileStore> {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    const s = new FileStore(opts.dir, opts.compactEvery ?? 1000);
    s.lock();
    try {
      s.load();
    } catch (e) {
      s.unlock();
      throw e;
    }
    return s;
  }

  private get lockPath(): string {
    return join(this.dir, 'lock');
  }

  private lock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(this.lockPath, String(process.pid), { flag: 'wx', mode: 0o600 });
        OPEN_DIRS.add(resolve(this.dir));
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const pid = Number(readFileSync(this.lockPath, 'utf8'));
        const mine = pid === process.pid && OPEN_DIRS.has(resolve(this.dir));
        if (mine || (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid))) throw new CmError('STORE_LOCKED', `store ${this.dir} is in use by pid ${pid}`);
        unlinkSync(this.lockPath); // stale: its owner is gone
      }
    }
    throw new CmError('STORE_LOCKED', `cannot lock store ${this.dir}`);
  }

  private unlock(): void {
    OPEN_DIRS.delete(resolve(this.dir));
    try {
      unlinkSync(this.lockPath);
    } catch {
      /* already gone */
    }
  }

  private load(): void {
    const snap = join(this.dir, 'snapshot.json');
    if (existsSync(snap)) {
      let parsed: { seq: number; entries: Array<[string, string, number]> };
      try {
        parsed = JSON.parse(readFileSync(snap, 'utf8'));
      } catch (cause) {
        throw new CmError('STORE_CORRUPT', `snapshot ${snap} is unreadable`, { cause });
      }
      this.seq = parsed.seq;
      for (const [k, v, r] of parsed.entries) this.data.set(k, { value: Buffer.from(v, 'base64'), revision: r });
    }
    const walPath = join(this.dir, 'wal.log');
    if (existsSync(walPath)) {
      const text = readFileSync(walPath, 'utf8');
      let offset = 0;
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        const isLast = i === lines.length - 1;
        if (line === '' && isLast) break;
        const tab = line.lastIndexOf('\t');
        const json = tab > 0 ? line.slice(0, tab) : '';
        let rec: Rec | undefined;
        if (tab > 0 && digest(json) === line.slice(tab + 1)) {
          try {
            rec = JSON.parse(json) as Rec;
          } catch {
            rec = undefined;
          }
        }
        // Only the final line may be torn (no trailing newline yet): cut it off.
        const torn = !rec || (isLast && !text.endsWith('\n'));
        if (torn) {
          const restIsEmpty = lines.slice(i + 1).every((l) => l === '');
          if (!restIsEmpty) throw new CmError('STORE_CORRUPT', `write-ahead log ${walPath} is damaged at line ${i + 1}`);
          const fd = openSync(walPath, 'r+');
          ftruncateSync(fd, Buffer.byteLength(text.slice(0, offset)));
          fsyncSync(fd);
          closeSync(fd);
          break;
        }
        offset += line.length + 1;
        this.walRecords++;
        if (rec!.rev <= this.seq) continue;
        this.apply(rec!);
      }
    }
    this.walFd = openSync(walPath, 'a', 0o600);
    fsyncDir(this.dir);
  }

  private apply(rec: Rec): void {
    this.seq = Math.max(this.seq, rec.rev);
    this.stagedSeq = Math.max(this.stagedSeq, this.seq);
    if (rec.op === 'put') this.data.set(rec.key, { value: Buffer.from(rec.v ?? '', 'base64'), revision: rec.rev });
    else this.data.delete(rec.key);
  }

  /**
   * Stages one checked record and resolves once it is durable: appended with the
   * rest of its batch and fsync'd (the acknowledgement point), then applied.
   */
  private persist(rec: Rec): Promise<void> {
    this.stagedSeq = rec.rev;
    this.staged.set(rec.key, { value: rec.op === 'put' ? Buffer.from(rec.v ?? '', 'base64') : undefined, revision: rec.rev });
    const p = new Promise<void>((resolve, reject) => this.batch.push({ rec, done: (e) => (e ? reject(e) : resolve()) }));
    this.flushing ??= this.flushLoop();
    return p;
  }

  /** Writes batches one after another until none is waiting: one write + one fsync per batch. */
  private async flushLoop(): Promise<void> {
    // Let the writes of this turn of the event loop join the first batch.
    await new Promise<void>((r) => setImmediate(r));
    while (this.batch.length > 0) {
      const batch = this.batch;
      this.batch = [];
      let err: Error | undefined = this.broken;
      if (!err) {
        try {
          const text = batch.map(({ rec }) => {
            const json = JSON.stringify(rec);
            return `${json}\t${digest(json)}\n`;
          }).join('');
          const bytes = Buffer.from(text, 'utf8');
          await new Promise<void>((res, rej) => write(this.walFd, bytes, 0, bytes.length, null, (e) => (e ? rej(e) : res())));
          await new Promise<void>((res, rej) => fsync(this.walFd, (e) => (e ? rej(e) : res())));
        } catch (cause) {
          err = this.broken = new CmError('STORE_UNAVAILABLE', `write-ahead log ${join(this.dir, 'wal.log')} could not be written: ${(cause as Error).message}`, { cause });
        }
      }
      for (const { rec, done } of batch) {
        const s = this.staged.get(rec.key);
        if (s && s.revision === rec.rev) this.staged.delete(rec.key);
        if (err) {
          done(err);
          continue;
        }
        this.apply(rec);
        this.walRecords++;
        done();
      }
      if (err) {
        // Writes staged after the failure see the same error.
        for (const { done } of this.batch) done(err);
        this.batch = [];
        this.staged.clear();
      } else {
        this.commits.batches++;
        this.commits.records += batch.length;
      }
      if (!err && this.walRecords >= this.compactEvery) {
        this.compact(); // nothing of a later batch is in the log yet: safe to truncate
      }
    }
    this.flushing = undefined;
  }

  /** A key as the next write sees it: staged writes first, then the committed state. */
  private current(key: string): { value: Buffer; revision: number } | undefined {
    const st = this.staged.get(key);
    if (st) return st.value === undefined ? undefined : { value: st.value, revision: st.revision };
    return this.data.get(key);
  }

  private compact(): void {
    const snap = join(this.dir, 'snapshot.json');
    const tmp = `${snap}.tmp`;
    const entries = [...this.data].map(([k, e]) => [k, e.value.toString('base64'), e.revision]);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ seq: this.seq, entries }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, snap);
    fsyncDir(this.dir);
    // The snapshot now covers every logged record; an older log is skipped by seq on replay.
    ftruncateSync(this.walFd, 0);
    fsyncSync(this.walFd);
    this.walRecords = 0;
  }

  /** Checks run synchronously, in call order, against the committed state plus the staged writes. */
  private check(): void {
    if (this.closed) throw new CmError('STORE_UNAVAILABLE', 'store is closed');
    if (this.broken) throw this.broken;
  }

  async get(key: string): Promise<KvEntry | undefined> {
    checkKey(key);
    const e = this.data.get(key);
    return e ? { key, value: Buffer.from(e.value), revision: e.revision } : undefined;
  }

  async create(key: string, value: Buffer): Promise<number> {
    checkKey(key);
    this.check();
    if (this.current(key)) throw new CmError('ALREADY_EXISTS', `${key} already exists`);
    const rev = this.stagedSeq + 1;
    await this.persist({ op: 'put', key, rev, v: value.toString('base64') });
    return rev;
  }

  async update(key: string, value: Buffer, revision: number): Promise<number> {
    checkKey(key);
    this.check();
    const e = this.current(key);
    if (!e) throw new CmError('NOT_FOUND', `${key} does not exist`);
    if (e.revision !== revision) throw new CmError('CONFLICT', `${key} changed (revision ${e.revision}, expected ${revision})`);
    const rev = this.stagedSeq + 1;
    await this.persist({ op: 'put', key, rev, v: value.toString('base64') });
    return rev;
  }

  async delete(key: string, revision?: number): Promise<void> {
    checkKey(key);
    this.check();
    const e = this.current(key);
    if (!e) throw new CmError('NOT_FOUND', `${key} does not exist`);
    if (revision !== undefined && e.revision !== revision) throw new CmError('CONFLICT', `${key} changed (revision ${e.revision}, expected ${revision})`);
    await this.persist({ op: 'del', key, rev: this.stagedSeq + 1 });
  }

  async list(prefix: string): Promise<KvEntry[]> {
    const out: KvEntry[] = [];
    for (const [key, e] of this.data) if (prefix === '' || key.startsWith(`${prefix}.`)) out.push({ key, value: Buffer.from(e.value), revision: e.revision });
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async close(): Promise<void> {
    // Writes already accepted are made durable (or fail) before the log closes.
    this.closed = true;
    while (this.flushing) await this.flushing;
    if (this.walFd >= 0) closeSync(this.walFd);
    this.walFd = -1;
    this.unlock();
  }
}
