// Verdicts: every verifier lists what it checked and what it did not
// (Claims.checks). Pure helpers so that all plugins use one vocabulary, and so
// that turning a 'not-checked' into a 'pass' later (collateral: CRLs, QE
// identity, TCB status) is one call: `checks.pass('crl', '...')` replaces the
// entry of that name where it stands.
import type { TcbStatus, VerificationCheck } from './types.ts';

export type CheckResult = VerificationCheck['result'];

/** The check names every plugin uses (a plugin may add its own, in kebab-case). */
export const CHECK = {
  /** The evidence's own signature (quote/report) by the attestation key, VCEK/VLEK, PEK, AK or sim key. */
  signature: 'signature',
  /** The signing key's certificate chain to a configured or pinned trust anchor (validity at "now" included). */
  certChain: 'cert-chain',
  /** Revocation lists of that chain. */
  crl: 'crl',
  /** The TCB level judged by collateral. */
  tcbStatus: 'tcb-status',
  /** Bytes after the end of the evidence structure (docs/platforms.md, "Trailing bytes"). */
  trailingBytes: 'trailing-bytes',
} as const;

/** An ordered list of checks, one entry per name (set/pass/... replace an entry of the same name in place). */
export class CheckList {
  private readonly items: VerificationCheck[] = [];

  set(check: string, result: CheckResult, detail?: string): this {
    setCheck(this.items, { check, result, ...(detail !== undefined ? { detail } : {}) });
    return this;
  }

  pass(check: string, detail?: string): this {
    return this.set(check, 'pass', detail);
  }

  notChecked(check: string, detail: string): this {
    return this.set(check, 'not-checked', detail);
  }

  warn(check: string, detail: string): this {
    return this.set(check, 'warn', detail);
  }

  add(c: VerificationCheck): this {
    setCheck(this.items, c);
    return this;
  }

  get(check: string): VerificationCheck | undefined {
    return this.items.find((c) => c.check === check);
  }

  /** A copy of the entries, for Claims.checks. */
  toArray(): VerificationCheck[] {
    return this.items.map((c) => ({ ...c }));
  }
}

/** Replaces the entry named c.check in `list` (in place, keeping its position), or appends it. */
export function setCheck(list: VerificationCheck[], c: VerificationCheck): VerificationCheck[] {
  const i = list.findIndex((x) => x.check === c.check);
  if (i >= 0) list[i] = c;
  else list.push(c);
  return list;
}

/**
 * The tcb-status entry for a status from resolveTcbStatus: Unknown is
 * 'not-checked' (no collateral, or none for this platform), UpToDate 'pass',
 * any other status 'warn' (appraisal decides whether it is accepted).
 */
export function tcbStatusCheck(status: TcbStatus, hasProvider: boolean): VerificationCheck {
  if (status === 'Unknown') {
    return { check: CHECK.tcbStatus, result: 'not-checked', detail: hasProvider ? 'the collateral provider has no collateral for this platform: TCB status Unknown' : 'no collateral: TCB status Unknown' };
  }
  if (status === 'NotApplicable') return { check: CHECK.tcbStatus, result: 'not-checked', detail: 'no TCB on this platform: TCB status NotApplicable' };
  if (status === 'UpToDate') return { check: CHECK.tcbStatus, result: 'pass', detail: 'TCB status UpToDate (from collateral)' };
  return { check: CHECK.tcbStatus, result: 'warn', detail: `TCB status ${status} (from collateral)` };
}

/**
 * The trailing-bytes entry: `n` bytes after `end` (what the structure ends with)
 * that no signature covers and no parser reads. Zero bytes: a 'pass'.
 */
export function trailingBytesCheck(n: number, end: string, bytes?: Uint8Array): VerificationCheck {
  if (n <= 0) return { check: CHECK.trailingBytes, result: 'pass', detail: `nothing after ${end}` };
  const zero = bytes !== undefined && bytes.every((b) => b === 0);
  return { check: CHECK.trailingBytes, result: 'warn', detail: `${n} bytes after ${end} are not signed${zero ? ' (all zero)' : ''}; ignored` };
}

/** Sentences for the checks that are not a plain pass ("trailing-bytes: 70 bytes ...", "crl not checked: ..."). */
export function checkWarnings(checks: readonly VerificationCheck[]): string[] {
  return checks.filter((c) => c.result !== 'pass').map((c) => `${c.check}${c.result === 'not-checked' ? ' not checked' : ''}: ${c.detail ?? c.result}`);
}
