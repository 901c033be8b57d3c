// Session mode: after one envelope exchange (any key-transport/agreement alg) the
// client may ask for a session (request header `x-aenv-jwe-session: new`). The
// server derives a session key from that request's CEK and returns its id in the
// response header `x-aenv-jwe-session`; later requests use `alg: "dir"` with
// `kid: <session id>`, so there is no RSA or ECDH cost per request.
//
//   session key = HKDF-SHA256(ikm = CEK, salt = "", info = "aenv-jwe-session/v1:" || id, L = |enc key|)
//
// The key differs from the CEK that protected the establishing exchange. Entries
// expire after ttl, are evicted oldest-first beyond maxEntries and retired after
// maxUses messages (random 96-bit GCM IVs).
import { hkdfSync, randomBytes } from 'node:crypto';
import type { ContentEnc } from './config.ts';
import { ENC_KEY_BYTES } from './jwe-crypto.ts';

export const SESSION_HEADER = 'x-aenv-jwe-session';
export const SESSION_EXPIRES_HEADER = 'x-aenv-jwe-session-expires';
export const SESSION_KDF_INFO = 'aenv-jwe-session/v1:';

export function deriveSessionKey(cek: Uint8Array, enc: ContentEnc, sessionId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', cek, Buffer.alloc(0), Buffer.from(SESSION_KDF_INFO + sessionId, 'ascii'), ENC_KEY_BYTES[enc]));
}

export interface SessionEntry {
  key: Buffer;
  enc: ContentEnc;
  expiresAt: number;
  uses: number;
}

export interface SessionTableOptions {
  ttlMs: number;
  maxEntries: number;
  maxUses: number;
  now?: () => number;
}

export class SessionTable {
  private readonly entries = new Map<string, SessionEntry>();
  private readonly now: () => number;

  constructor(private readonly opts: SessionTableOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Creates a session from an exchange's CEK; returns its id and expiry (ms since epoch). */
  create(cek: Uint8Array, enc: ContentEnc): { id: string; expiresAt: number } {
    const id = randomBytes(16).toString('base64url');
    const expiresAt = this.now() + this.opts.ttlMs;
    while (this.entries.size >= this.opts.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(id, { key: deriveSessionKey(cek, enc, id), enc, expiresAt, uses: 0 });
    return { id, expiresAt };
  }

  /** Looks a session up and counts one use; undefined when unknown, expired or used up. */
  use(id: string): SessionEntry | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    if (this.now() >= e.expiresAt || e.uses >= this.opts.maxUses) {
      this.entries.delete(id);
      return undefined;
    }
    e.uses++;
    return e;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops expired entries (called periodically by the transport). */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const [id, e] of this.entries) {
      if (now >= e.expiresAt) {
        this.entries.delete(id);
        n++;
      }
    }
    return n;
  }
}
