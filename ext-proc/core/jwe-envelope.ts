// Parsing and serialising the JWE envelope forms (RFC 7516 section 7): compact,
// flattened JSON and general JSON. Pure: bytes in, structure out. Decryption lives
// in jwe-decrypt.ts.
import { ExtProcError } from '../errors.ts';

export type EnvelopeForm = 'compact' | 'flattened' | 'general';

export interface JweRecipient {
  /** Per-recipient unprotected header. */
  header: Record<string, unknown>;
  encryptedKey: Buffer;
}

export interface ParsedJwe {
  form: EnvelopeForm;
  /** The protected header exactly as sent (its ASCII bytes are the RFC 7516 AAD). */
  protectedB64: string;
  protectedHeader: Record<string, unknown>;
  /** Shared unprotected header (JSON forms). */
  unprotected: Record<string, unknown>;
  recipients: JweRecipient[];
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
  /** The `aad` member as sent (JSON forms), undefined when absent. */
  aadB64?: string;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

export function b64uDecode(s: unknown, what: string): Buffer {
  if (typeof s !== 'string' || s.length % 4 === 1) throw new ExtProcError('MALFORMED_ENVELOPE', `${what} is not base64url`);
  // Node skips characters outside the alphabet (and padding, whitespace) instead of
  // failing: any such character shows as a shorter output. It also accepts the
  // standard alphabet's + and /, which base64url excludes. Cheaper than a regex
  // over 64 KiB bodies.
  const b = Buffer.from(s, 'base64url');
  if (b.length !== Math.floor((s.length * 3) / 4) || s.includes('+') || s.includes('/') || (s.length < 64 && !B64URL.test(s))) {
    throw new ExtProcError('MALFORMED_ENVELOPE', `${what} is not base64url`);
  }
  return b;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseHeader(b64: string): Record<string, unknown> {
  let h: unknown;
  try {
    h = JSON.parse(b64uDecode(b64, 'protected').toString('utf8'));
  } catch (cause) {
    if (ExtProcError.is(cause)) throw cause;
    throw new ExtProcError('MALFORMED_ENVELOPE', 'protected header is not JSON', { cause });
  }
  if (!isObject(h)) throw new ExtProcError('MALFORMED_ENVELOPE', 'protected header is not a JSON object');
  return h;
}

/** Trustflow detects envelopes by body shape: a JSON object with the JWE members. */
export function hasJweShape(v: unknown): v is Record<string, unknown> {
  return isObject(v) && typeof v.ciphertext === 'string' && (typeof v.protected === 'string' || Array.isArray(v.recipients) || typeof v.encrypted_key === 'string');
}

const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;

export function looksCompact(text: string): boolean {
  return text.length < 1 << 30 && COMPACT.test(text.trim());
}

export function parseCompact(text: string): ParsedJwe {
  const parts = text.trim().split('.');
  if (parts.length !== 5) throw new ExtProcError('MALFORMED_ENVELOPE', 'compact JWE must have 5 parts');
  const [p, ek, iv, ct, tag] = parts as [string, string, string, string, string];
  return {
    form: 'compact',
    protectedB64: p,
    protectedHeader: parseHeader(p),
    unprotected: {},
    recipients: [{ header: {}, encryptedKey: b64uDecode(ek, 'encrypted_key') }],
    iv: b64uDecode(iv, 'iv'),
    ciphertext: b64uDecode(ct, 'ciphertext'),
    tag: b64uDecode(tag, 'tag'),
  };
}

/** Parses a flattened or general JSON serialisation (already JSON-decoded). */
export function parseJsonJwe(v: unknown): ParsedJwe {
  if (!isObject(v)) throw new ExtProcError('MALFORMED_ENVELOPE', 'JWE JSON must be an object');
  const protectedB64 = v.protected === undefined ? '' : v.protected;
  if (typeof protectedB64 !== 'string') throw new ExtProcError('MALFORMED_ENVELOPE', 'protected must be a string');
  if (v.unprotected !== undefined && !isObject(v.unprotected)) throw new ExtProcError('MALFORMED_ENVELOPE', 'unprotected must be an object');
  if (v.aad !== undefined && typeof v.aad !== 'string') throw new ExtProcError('MALFORMED_ENVELOPE', 'aad must be a string');
  let form: EnvelopeForm;
  let recipients: JweRecipient[];
  if (v.recipients !== undefined) {
    if (!Array.isArray(v.recipients) || v.recipients.length === 0 || v.recipients.length > 16) {
      throw new ExtProcError('MALFORMED_ENVELOPE', 'recipients must be a non-empty array (at most 16)');
    }
    if (v.encrypted_key !== undefined || v.header !== undefined) throw new ExtProcError('MALFORMED_ENVELOPE', 'general JWE must not carry top-level encrypted_key/header');
    form = 'general';
    recipients = v.recipients.map((r: unknown, i: number) => {
      if (!isObject(r)) throw new ExtProcError('MALFORMED_ENVELOPE', `recipients[${i}] must be an object`);
      if (r.header !== undefined && !isObject(r.header)) throw new ExtProcError('MALFORMED_ENVELOPE', `recipients[${i}].header must be an object`);
      return { header: (r.header as Record<string, unknown>) ?? {}, encryptedKey: r.encrypted_key === undefined ? Buffer.alloc(0) : b64uDecode(r.encrypted_key, `recipients[${i}].encrypted_key`) };
    });
  } else {
    if (v.header !== undefined && !isObject(v.header)) throw new ExtProcError('MALFORMED_ENVELOPE', 'header must be an object');
    form = 'flattened';
    recipients = [{ header: (v.header as Record<string, unknown>) ?? {}, encryptedKey: v.encrypted_key === undefined ? Buffer.alloc(0) : b64uDecode(v.encrypted_key, 'encrypted_key') }];
  }
  if (v.iv === undefined || v.tag === undefined || v.ciphertext === undefined) throw new ExtProcError('MALFORMED_ENVELOPE', 'JWE JSON needs iv, ciphertext and tag');
  return {
    form,
    protectedB64,
    protectedHeader: protectedB64 === '' ? {} : parseHeader(protectedB64),
    unprotected: (v.unprotected as Record<string, unknown>) ?? {},
    recipients,
    iv: b64uDecode(v.iv, 'iv'),
    ciphertext: b64uDecode(v.ciphertext, 'ciphertext'),
    tag: b64uDecode(v.tag, 'tag'),
    ...(v.aad === undefined ? {} : { aadB64: v.aad as string }),
  };
}

/** Joins the three header sources; a parameter in two of them is malformed (RFC 7516 7.2.1). */
export function joinHeader(jwe: ParsedJwe, r: JweRecipient): Record<string, unknown> {
  // Own members only, into an object without a prototype: with `k in {}` every
  // Object.prototype name ("constructor", "toString", "__proto__") looked like a
  // duplicate, and assigning "__proto__" on a plain object would set its prototype
  // instead of adding a member.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const src of [jwe.protectedHeader, jwe.unprotected, r.header]) {
    for (const [k, val] of Object.entries(src)) {
      if (Object.hasOwn(out, k)) throw new ExtProcError('MALFORMED_ENVELOPE', `header parameter "${k}" appears twice`);
      out[k] = val;
    }
  }
  return out;
}

export interface SerializedJwe {
  protectedB64: string;
  encryptedKey?: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export function toCompact(j: SerializedJwe): string {
  return [j.protectedB64, (j.encryptedKey ?? Buffer.alloc(0)).toString('base64url'), j.iv.toString('base64url'), j.ciphertext.toString('base64url'), j.tag.toString('base64url')].join('.');
}

export function toFlattened(j: SerializedJwe): Record<string, string> {
  return {
    protected: j.protectedB64,
    ...(j.encryptedKey && j.encryptedKey.length > 0 ? { encrypted_key: j.encryptedKey.toString('base64url') } : {}),
    iv: j.iv.toString('base64url'),
    ciphertext: j.ciphertext.toString('base64url'),
    tag: j.tag.toString('base64url'),
  };
}

/**
 * The JSON text of an object whose members all hold base64url (or empty) strings,
 * byte for byte what JSON.stringify writes: base64url has nothing to escape, so
 * the values are not scanned, and the one-byte string is copied out as latin1
 * rather than UTF-8 encoded. For 64 KiB responses this halves the cost of the
 * response envelope. Callers pass only values made by toString('base64url').
 */
export function base64urlJson(members: Record<string, string>): Buffer {
  let s = '';
  for (const k in members) s += `${s === '' ? '{"' : ',"'}${k}":"${members[k]}"`;
  return Buffer.from(s === '' ? '{}' : `${s}}`, 'latin1');
}

/** Trustflow's response shape, member order included (see trustflow-compat.md). */
export function toTrustflowResponse(j: SerializedJwe): Record<string, string> {
  return {
    protected: j.protectedB64,
    encrypted_key: '',
    iv: j.iv.toString('base64url'),
    ciphertext: j.ciphertext.toString('base64url'),
    tag: j.tag.toString('base64url'),
    aad: '',
  };
}
