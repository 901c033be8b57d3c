// Append-only audit log of every key release and policy change: one JSON line
// per event {seq, ts, actor, action, target, decision, reasons?, prev, hash},
// hash = SHA-256(prev || canonical line without hash), fsync'd before the
// response is sent. The chain makes a removed or edited line detectable
// (verifyAuditLog). Never contains key material: only names and decisions.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsync, fsyncSync, mkdirSync, openSync, readFileSync, truncateSync, write } from 'node:fs';
import { dirname } from 'node:path';
import { CmError } from '../errors.ts';

export interface AuditEvent {
  /** The signer's party id (or "<initiator> via <signer>" for key releases). */
  actor: string;
  /** The party on whose behalf a key release was asked (initiator_party_id), when it is one. */
  initiator?: string;
  action: string;
  target: string;
  decision: 'allow' | 'deny' | 'ok' | 'error';
  reasons?: string[];
  /** The release session a key release came through (core/session/). */
  session?: string;
}

export interface AuditRecord extends AuditEvent {
  seq: number;
  ts: string;
  prev: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);

function hashOf(rec: Omit<AuditRecord, 'hash'>): string {
  return createHash('sha256').update(rec.prev).update(JSON.stringify({ ...rec, prev: undefined })).digest('hex');
}

export interface AuditLog {
  /** Resolves once the event is durable (fsync'd); concurrent events share one fsync. */
  append(e: AuditEvent): Promise<void>;
  close(): Promise<void>;
  readonly path?: string;
}

export interface AuditLogOptions {
  /** Called with each record once it is durable (e.g. the recent-decisions ring). Must not throw. */
  onRecord?: (rec: AuditRecord) => void;
  /** Called when a torn (never acknowledged) last line was cut off at open, with its size. */
  onTornTail?: (bytes: number) => void;
}

/**
 * A process killed in the middle of a batch's write can leave a last line
 * without its newline. Every line is written with its newline and acknowledged
 * only after the fsync, so such a tail was never acknowledged: it is cut off
 * (and the cut made durable) before the chain is verified. Returns the bytes cut.
 */
export function trimTornTail(path: string): number {
  const text = readFileSync(path);
  if (text.length === 0 || text[text.length - 1] === 0x0a) return 0;
  const keep = text.lastIndexOf(0x0a) + 1;
  truncateSync(path, keep);
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return text.length - keep;
}

export function openAuditLog(path: string, opts: AuditLogOptions = {}): AuditLog {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let prev = GENESIS;
  let seq = 0;
  if (existsSync(path)) {
    const cut = trimTornTail(path);
    if (cut > 0) opts.onTornTail?.(cut);
    const v = verifyAuditLog(path);
    if (!v.ok) throw new CmError('STORE_CORRUPT', `audit log ${path} is damaged: ${v.error}`);
    prev = v.lastHash;
    seq = v.count;
  }
  const fd = openSync(path, 'a', 0o600);
  let open = true;
  // Group commit: lines chain synchronously (order = call order); one write +
  // fsync per batch, off the event loop, so concurrent releases share a sync.
  let pending: Array<{ line: string; rec: AuditRecord; done: () => void; fail: (e: unknown) => void }> = [];
  let flushing: Promise<void> | undefined;
  const flush = async (): Promise<void> => {
    while (pending.length) {
      const batch = pending;
      pending = [];
      try {
        await new Promise<void>((res, rej) => write(fd, batch.map((b) => b.line).join(''), (e) => (e ? rej(e) : res())));
        await new Promise<void>((res, rej) => fsync(fd, (e) => (e ? rej(e) : res())));
        for (const b of batch) {
          opts.onRecord?.(b.rec);
          b.done();
        }
      } catch (e) {
        for (const b of batch) b.fail(new CmError('STORE_UNAVAILABLE', 'cannot write the audit log', { cause: e }));
      }
    }
    flushing = undefined;
  };
  return {
    path,
    append(e) {
      if (!open) return Promise.reject(new CmError('STORE_UNAVAILABLE', 'audit log is closed'));
      const base = { seq: ++seq, ts: new Date().toISOString(), actor: e.actor, ...(e.initiator ? { initiator: e.initiator } : {}), action: e.action, target: e.target, decision: e.decision, ...(e.reasons?.length ? { reasons: e.reasons.slice(0, 32) } : {}), ...(e.session ? { session: e.session } : {}), prev };
      const rec: AuditRecord = { ...base, hash: hashOf(base) };
      prev = rec.hash;
      const p = new Promise<void>((done, fail) => pending.push({ line: `${JSON.stringify(rec)}\n`, rec, done, fail }));
      flushing ??= flush();
      return p;
    },
    async close() {
      if (!open) return;
      open = false;
      if (flushing) await flushing;
      closeSync(fd);
    },
  };
}

/** An in-memory log (tests, benchmarks without disk). */
export function memoryAuditLog(opts: AuditLogOptions = {}): AuditLog & { records: AuditRecord[] } {
  const records: AuditRecord[] = [];
  let prev = GENESIS;
  return {
    records,
    async append(e) {
      const base = { seq: records.length + 1, ts: new Date().toISOString(), ...e, prev };
      const rec = { ...base, hash: hashOf(base) };
      records.push(rec);
      prev = rec.hash;
      opts.onRecord?.(rec);
    },
    async close() {},
  };
}

export function verifyAuditLog(path: string): { ok: true; count: number; lastHash: string } | { ok: false; error: string } {
  const lines = readFileSync(path, 'utf8').split('\n');
  let prev = GENESIS;
  let count = 0;
  for (const [i, line] of lines.entries()) {
    if (line === '') {
      if (i === lines.length - 1) break;
      return { ok: false, error: `empty line ${i + 1}` };
    }
    let rec: AuditRecord;
    try {
      rec = JSON.parse(line) as AuditRecord;
    } catch {
      return { ok: false, error: `line ${i + 1} is not JSON` };
    }
    const { hash, ...rest } = rec;
    if (rec.prev !== prev || rec.seq !== count + 1 || hashOf(rest) !== hash) return { ok: false, error: `chain broken at line ${i + 1}` };
    prev = hash;
    count++;
  }
  return { ok: true, count, lastHash: prev };
}
