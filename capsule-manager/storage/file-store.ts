// The embedded default store: everything in memory, made durable by a
// write-ahead log in a directory:
//   wal.log        one line per write: <json>\t<sha256-prefix>\n, fsync'd before
//                  the write is acknowledged (so an acknowledged write survives kill -9)
//   snapshot.json  periodic compaction: written to a temp file, fsync'd, renamed
//                  over the old one, directory fsync'd; then the log is truncated
//   lock           the owning pid (one process per directory)
// On open: snapshot, then the log replayed (entries at or below the snapshot's
// sequence skipped); a torn last line (crash mid-append) is cut off, damage
// anywhere else is reported as STORE_CORRUPT rather than silently dropped.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
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
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly compactEvery: number;

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
    if (rec.op === 'put') this.data.set(rec.key, { value: Buffer.from(rec.v ?? '', 'base64'), revision: rec.rev });
    else this.data.delete(rec.key);
  }

  /** Appends and fsyncs one record, then applies it: the acknowledgement point. */
  private persist(rec: Rec): void {
    const json = JSON.stringify(rec);
    writeSync(this.walFd, `${json}\t${digest(json)}\n`);
    fsyncSync(this.walFd);
    this.apply(rec);
    if (++this.walRecords >= this.compactEvery) this.compact();
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

  /** Writes run one at a time so compare-and-set sees a consistent revision. */
  private serial<T>(fn: () => T): Promise<T> {
    const p = this.queue.then(() => {
      if (this.closed) throw new CmError('STORE_UNAVAILABLE', 'store is closed');
      return fn();
    });
    this.queue = p.catch(() => undefined);
    return p;
  }

  async get(key: string): Promise<KvEntry | undefined> {
    checkKey(key);
    const e = this.data.get(key);
    return e ? { key, value: Buffer.from(e.value), revision: e.revision } : undefined;
  }

  async create(key: string, value: Buffer): Promise<number> {
    checkKey(key);
    return this.serial(() => {
      if (this.data.has(key)) throw new CmError('ALREADY_EXISTS', `${key} already exists`);
      this.persist({ op: 'put', key, rev: this.seq + 1, v: value.toString('base64') });
      return this.seq;
    });
  }

  async update(key: string, value: Buffer, revision: number): Promise<number> {
    checkKey(key);
    return this.serial(() => {
      const e = this.data.get(key);
      if (!e) throw new CmError('NOT_FOUND', `${key} does not exist`);
      if (e.revision !== revision) throw new CmError('CONFLICT', `${key} changed (revision ${e.revision}, expected ${revision})`);
      this.persist({ op: 'put', key, rev: this.seq + 1, v: value.toString('base64') });
      return this.seq;
    });
  }

  async delete(key: string, revision?: number): Promise<void> {
    checkKey(key);
    return this.serial(() => {
      const e = this.data.get(key);
      if (!e) throw new CmError('NOT_FOUND', `${key} does not exist`);
      if (revision !== undefined && e.revision !== revision) throw new CmError('CONFLICT', `${key} changed (revision ${e.revision}, expected ${revision})`);
      this.persist({ op: 'del', key, rev: this.seq + 1 });
    });
  }

  async list(prefix: string): Promise<KvEntry[]> {
    const out: KvEntry[] = [];
    for (const [key, e] of this.data) if (prefix === '' || key.startsWith(`${prefix}.`)) out.push({ key, value: Buffer.from(e.value), revision: e.revision });
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async close(): Promise<void> {
    await this.serial(() => undefined).catch(() => undefined);
    this.closed = true;
    if (this.walFd >= 0) closeSync(this.walFd);
    this.walFd = -1;
    this.unlock();
  }
}
