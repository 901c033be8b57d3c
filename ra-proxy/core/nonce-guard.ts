// Nonce rules: present, bounded, a safe charset, and fresh — a nonce seen within
// the replay window is rejected. Entries expire in insertion order (one window
// for all), so the sweep only looks at the oldest ones. When the table is full
// of live nonces the guard refuses new ones (fail closed) instead of forgetting.
import { RaProxyError } from '../errors.ts';

export interface NonceRules {
  maxLength: number;
  /** Allowed characters (whole-string regex). */
  pattern: RegExp;
}

/** /.well-known/attestation: 1..128 of [A-Za-z0-9_-] (interface 2). */
export const DOCUMENT_NONCE: NonceRules = { maxLength: 128, pattern: /^[A-Za-z0-9_-]+$/ };
/** GetRaCert: Trustflow clients send hex or base64 nonces; '+', '/', '=' and '.' allowed too. */
export const RA_CERT_NONCE: NonceRules = { maxLength: 128, pattern: /^[A-Za-z0-9_\-+/=.]+$/ };

export interface NonceGuardOptions {
  windowMs: number;
  maxEntries: number;
  now?: () => number;
}

export interface NonceGuard {
  /** Validates and records the nonce; throws on a violation or a replay. */
  accept(nonce: unknown, rules: NonceRules): string;
  size(): number;
}

export function checkNonce(nonce: unknown, rules: NonceRules): string {
  if (nonce === undefined || nonce === null || nonce === '') throw new RaProxyError('NONCE_MISSING', 'a nonce is required');
  if (typeof nonce !== 'string') throw new RaProxyError('NONCE_INVALID', 'nonce must be a string');
  if (nonce.length > rules.maxLength) throw new RaProxyError('NONCE_TOO_LONG', `nonce is ${nonce.length} characters; at most ${rules.maxLength} are allowed`);
  if (!rules.pattern.test(nonce)) throw new RaProxyError('NONCE_INVALID', `nonce contains characters outside ${rules.pattern.source}`);
  return nonce;
}

export function createNonceGuard(opts: NonceGuardOptions): NonceGuard {
  const now = opts.now ?? Date.now;
  const seen = new Map<string, number>();
  function sweep(t: number): void {
    for (const [n, exp] of seen) {
      if (exp > t) break;
      seen.delete(n);
    }
  }
  return {
    accept(nonce, rules) {
      const n = checkNonce(nonce, rules);
      const t = now();
      sweep(t);
      if (seen.has(n)) throw new RaProxyError('NONCE_REPLAYED', 'nonce was already used; send a fresh random nonce');
      if (seen.size >= opts.maxEntries) throw new RaProxyError('NONCE_CAPACITY', 'too many outstanding nonces; retry later');
      seen.set(n, t + opts.windowMs);
      return n;
    },
    size: () => seen.size,
  };
}
