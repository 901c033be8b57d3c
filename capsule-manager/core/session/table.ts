// The capsule manager's attested release sessions, in memory: what an app
// proved when it opened one (its verified claims and its party) and the
// 256-bit key its later releases are sealed under. A session ends at its
// expiry (the CM's limit, the app's request, the cert's notAfter: whichever is
// first), at its release count, or when the table (or its party's share of
// it) is full and it is the oldest; its key is zeroed then. Nothing here is
// persisted: a restarted CM or another replica knows no session and answers
// SESSION_UNKNOWN.
import { randomBytes } from 'node:crypto';
import type { Claims } from '../../../platforms/index.ts';
import { CmError } from '../../errors.ts';
import { ReplayWindow, type SeqVerdict } from './replay-window.ts';

export interface SessionLimits {
  maxTtlSeconds: number;
  maxSessions: number;
  /** Sessions one party holds at once: its oldest goes first, so one party cannot evict the others'. */
  maxSessionsPerParty: number;
  maxReleases: number;
}

export interface OpenSession {
  /** The signer's party id (audit: "<initiator> via <party>"). */
  partyId: string;
  /** The verified claims of the app's evidence; undefined where attestation is not required and none came. */
  claims: Claims | undefined;
  /** The app's wish; the CM's maxTtlSeconds caps it. */
  ttlSeconds?: number;
  /** The attested cert's notAfter (epoch ms): no session outlives it. */
  certNotAfter: number;
}

export class ReleaseSession {
  readonly key = randomBytes(32);
  readonly id = randomBytes(16).toString('base64url');
  private readonly window = new ReplayWindow();
  releases = 0;
  constructor(
    readonly partyId: string,
    readonly claims: Claims | undefined,
    readonly expiresAt: number,
    readonly maxReleases: number,
  ) {}

  /** One more message under this key: its seq must be fresh and the count not spent. */
  take(seq: number): SeqVerdict | 'exhausted' {
    if (this.releases >= this.maxReleases) return 'exhausted';
    const v = this.window.take(seq);
    if (v === 'ok') this.releases++;
    return v;
  }

  destroy(): void {
    this.key.fill(0);
  }
}

export const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

export class ReleaseSessionTable {
  private readonly sessions = new Map<string, ReleaseSession>();
  /** Each party's session ids, oldest first. */
  private readonly byParty = new Map<string, string[]>();

  constructor(
    readonly limits: SessionLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  open(o: OpenSession): ReleaseSession {
    const now = this.now();
    const ttl = Math.min(this.limits.maxTtlSeconds, o.ttlSeconds ?? this.limits.maxTtlSeconds);
    const expiresAt = Math.min(now + ttl * 1000, o.certNotAfter);
    if (!(expiresAt > now)) throw new CmError('INVALID_REQUEST', 'the attested certificate expires before a release session could start');
    const own = this.byParty.get(o.partyId) ?? [];
    while (own.length >= this.limits.maxSessionsPerParty) this.drop(own[0]!);
    while (this.sessions.size >= this.limits.maxSessions) this.drop(this.sessions.keys().next().value!);
    const s = new ReleaseSession(o.partyId, o.claims, expiresAt, this.limits.maxReleases);
    this.sessions.set(s.id, s);
    const ids = this.byParty.get(o.partyId);
    if (ids) ids.push(s.id);
    else this.byParty.set(o.partyId, [s.id]);
    return s;
  }

  /** The live session `id` names: SESSION_UNKNOWN when there is none, SESSION_EXPIRED (and forgotten) past its expiry. */
  use(id: string): ReleaseSession {
    const s = this.sessions.get(id);
    if (!s) throw new CmError('SESSION_UNKNOWN', 'no such release session on this capsule manager (expired and swept, evicted, or opened before a restart): open a new one');
    if (this.now() >= s.expiresAt) {
      this.drop(id);
      throw new CmError('SESSION_EXPIRED', 'the release session has expired: open a new one');
    }
    return s;
  }

  /** Ends a session before its time (its release count spent). */
  end(id: string): void {
    this.drop(id);
  }

  /** Forgets every expired session; returns how many. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const [id, s] of this.sessions) {
      if (now >= s.expiresAt) {
        this.drop(id);
        n++;
      }
    }
    return n;
  }

  /** Every session ends (the CM closes). */
  clear(): void {
    for (const id of [...this.sessions.keys()]) this.drop(id);
  }

  private drop(id: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    s.destroy();
    this.sessions.delete(id);
    const ids = this.byParty.get(s.partyId)!;
    ids.splice(ids.indexOf(id), 1);
    if (ids.length === 0) this.byParty.delete(s.partyId);
  }
}
