// When to renew a group leaf (pure): at a fixed fraction of its lifetime, so
// a leaf is replaced well before expiry while peers still accept the old one
// (the new leaf is valid from notBefore = issue time - skew). Failures retry
// with capped exponential backoff, never later than shortly before expiry.
export interface RenewalPolicy {
  /** Fraction of the lifetime after which to renew (default 2/3). */
  fraction: number;
  minRetryMs: number;
  maxRetryMs: number;
}

export const DEFAULT_RENEWAL: RenewalPolicy = { fraction: 2 / 3, minRetryMs: 500, maxRetryMs: 60_000 };

export function renewalDelayMs(notBefore: Date, notAfter: Date, now: Date, p: RenewalPolicy = DEFAULT_RENEWAL): number {
  const life = notAfter.getTime() - notBefore.getTime();
  const at = notBefore.getTime() + life * p.fraction;
  return Math.max(0, at - now.getTime());
}

export function retryDelayMs(attempt: number, notAfter: Date | undefined, now: Date, p: RenewalPolicy = DEFAULT_RENEWAL): number {
  const backoff = Math.min(p.maxRetryMs, p.minRetryMs * 2 ** Math.max(0, attempt - 1));
  if (!notAfter) return backoff;
  // Keep trying at least a few times before the current leaf expires.
  const left = notAfter.getTime() - now.getTime();
  return left > 0 ? Math.max(p.minRetryMs, Math.min(backoff, left / 4)) : backoff;
}
