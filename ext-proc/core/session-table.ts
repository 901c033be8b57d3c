// Session mode: after one envelope exchange (any key-transport/agreement alg) the
// client may ask for a session (request header `x-aenv-jwe-session: new`). The
// server derives a session key from that request's CEK and returns the session id
// in the response header `x-aenv-jwe-session`; later requests use `alg: "dir"`
// with `kid: <session id>`, so there is no RSA or ECDH cost per request.
//
// The id is a ticket (RFC 5077 style): `<r>.<sealed>`, where r is 16 random bytes
// and sealed = AES-256-GCM(ticket key, {enc, expiry, session key}, AAD = r), all
// base64url. The ticket key is derived from the app identity (ext-proc/start.ts),
// so every ext-proc process of the same app, behind the same Envoy or across
// replicas and restarts, accepts the session; none of them keeps state to do so.
//
//   session key = HKDF-SHA256(ikm = CEK, salt = "", info = "aenv-jwe-session/v1:" || r, L = |enc key|)
//
// The key differs from the CEK that protected the establishing exchange. A
// session ends at its expiry (the hard bound, sealed in the ticket). Uses are
// counted per process, for the sessions a process has seen most recently
// (maxEntries), and a session is refused there after maxUses messages: with
// random 96-bit GCM IVs, ttl x request rate stays far below 2^32 messages anyway.
import { hkdfSync, randomBytes } from 'node:crypto';
import type { ContentEnc } from '../config.ts';
import { CONTENT_ENCS } from '../config.ts';
import { ENC_KEY_BYTES, gcmDecrypt, gcmEncrypt } from '../../foundation/jwe-crypto.ts';

export const SESSION_HEADER = 'x-aenv-jwe-session';
export const SESSION_EXPIRES_HEADER = 'x-aenv-jwe-session-expires';
export const SESSION_KDF_INFO = 'aenv-jwe-session/v1:';
const TICKET_VERSION = 1;

/** The random part of a session id, the KDF input both sides use. */
function randomPart(sessionId: string): string {
  const dot = sessionId.indexOf('.');
  return dot < 0 ? sessionId : sessionId.slice(0, dot);
}

export function deriveSessionKey(cek: Uint8Array, enc: ContentEnc, sessionId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', cek, Buffer.alloc(0), Buffer.from(SESSION_KDF_INFO + randomPart(sessionId), 'ascii'), ENC_KEY_BYTES[enc]));
}

/** The 32-byte AES key that seals session tickets, from secret key material of the app identity. */
export function deriveTicketKey(secret: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from('aenv-ext-proc', 'ascii'), Buffer.from('session-ticket-key/v1', 'ascii'), 32));
}

export interface SessionEntry {
  key: Buffer;
  enc: ContentEnc;
  expiresAt: number;
  uses: number;
}

export interface SessionTableOptions {
  ttlMs: number;
  /** Sessions whose uses this process counts (most recently seen first). */
  maxEntries: number;
  maxUses: number;
  /** 32 bytes (deriveTicketKey); processes with the same key share sessions. */
  ticketKey: Buffer;
  now?: () => number;
}

/**
 * What a process keeps per session it has seen: the use count, the expiry, and
 * the ticket it opened with its contents, so that the session's later requests
 * skip the AES-GCM unseal (the same id string, byte for byte; any other string
 * is opened and checked as before).
 */
interface Tracked {
  uses: number;
  expiresAt: number;
  ticket?: { id: string; key: Buffer; enc: ContentEnc };
}

export class SessionTable {
  /** Per session id random part, in order of last use (Map order). */
  private readonly uses = new Map<string, Tracked>();
  private readonly now: () => number;

  constructor(private readonly opts: SessionTableOptions) {
    if (opts.ticketKey.length !== 32) throw new Error('session ticket key must be 32 bytes');
    this.now = opts.now ?? Date.now;
  }

  /** Creates a session from an exchange's CEK; returns its id and expiry (ms since epoch). */
  create(cek: Uint8Array, enc: ContentEnc): { id: string; expiresAt: number } {
    const r = randomBytes(16).toString('base64url');
    const expiresAt = this.now() + this.opts.ttlMs;
    const key = deriveSessionKey(cek, enc, r);
    const body = Buffer.alloc(2 + 8 + key.length);
    body[0] = TICKET_VERSION;
    body[1] = CONTENT_ENCS.indexOf(enc);
    body.writeBigUInt64BE(BigInt(expiresAt), 2);
    key.copy(body, 10);
    const { iv, ciphertext, tag } = gcmEncrypt('A256GCM', this.opts.ticketKey, body, Buffer.from(r, 'ascii'));
    const sealed = Buffer.concat([iv, ciphertext, tag]);
    body.fill(0);
    const id = `${r}.${sealed.toString('base64url')}`;
    this.track(r, { uses: 0, expiresAt, ticket: { id, key, enc } });
    return { id, expiresAt };
  }

  /**
   * Opens a ticket and counts one use; undefined when forged, unknown, expired or
   * used up. The ticket of a tracked session is opened once: a later request with
   * the same id string takes its contents from the table (the expiry sealed in it
   * and the use count are checked the same way). The key returned is shared: not
   * to be modified.
   */
  use(id: string): SessionEntry | undefined {
    // open() accepts only ids whose random part is the 22 characters before the dot.
    const r = randomPart(id);
    const tracked = this.uses.get(r);
    const t = tracked?.ticket?.id === id ? { key: tracked.ticket.key, enc: tracked.ticket.enc, expiresAt: tracked.expiresAt } : this.open(id);
    if (!t) return undefined;
    if (this.now() >= t.expiresAt) {
      this.uses.delete(r);
      return undefined;
    }
    const seen = tracked ?? { uses: 0, expiresAt: t.expiresAt };
    seen.ticket ??= { id, key: t.key, enc: t.enc };
    // A used-up session stays tracked (and refused) until it expires or is evicted.
    if (seen.uses >= this.opts.maxUses) return undefined;
    seen.uses++;
    this.track(r, seen);
    return { key: t.key, enc: t.enc, expiresAt: t.expiresAt, uses: seen.uses };
  }

  /** The ticket's contents; undefined when forged or damaged. */
  private open(id: string): { key: Buffer; enc: ContentEnc; expiresAt: number } | undefined {
    const dot = id.indexOf('.');
    if (dot !== 22) return undefined;
    const r = id.slice(0, dot);
    const sealed = Buffer.from(id.slice(dot + 1), 'base64url');
    if (sealed.length < 12 + 10 + 16 + 16 || sealed.length > 12 + 10 + 32 + 16) return undefined;
    try {
      const body = gcmDecrypt('A256GCM', this.opts.ticketKey, sealed.subarray(0, 12), sealed.subarray(12, sealed.length - 16), sealed.subarray(sealed.length - 16), Buffer.from(r, 'ascii'));
      const enc = CONTENT_ENCS[body[1]!];
      if (body[0] !== TICKET_VERSION || !enc || body.length !== 10 + ENC_KEY_BYTES[enc]) return undefined;
      return { enc, expiresAt: Number(body.readBigUInt64BE(2)), key: Buffer.from(body.subarray(10)) };
    } catch {
      return undefined; // forged or damaged: the same answer as an unknown session
    }
  }

  private track(r: string, e: Tracked): void {
    this.uses.delete(r);
    this.uses.set(r, e);
    while (this.uses.size > this.opts.maxEntries) this.uses.delete(this.uses.keys().next().value as string);
  }

  /** Sessions this process has seen and not yet dropped. */
  get size(): number {
    return this.uses.size;
  }

  /** Drops the use counts of expired sessions (called periodically by the transport). */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const [r, e] of this.uses) {
      if (now >= e.expiresAt) {
        this.uses.delete(r);
        n++;
      }
    }
    return n;
  }
}
