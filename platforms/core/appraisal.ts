// Appraisal: pure policy over verified claims. Every failed condition is listed
// in words a user can act on; nothing here touches signatures (verify did that).
import type { AppraisalPolicy, AppraisalResult, Claims } from './types.ts';

function norm(h: string): string {
  return h.trim().toLowerCase().replace(/^0x/, '');
}

function short(h: string): string {
  return h.length > 24 ? `${h.slice(0, 16)}..${h.slice(-8)}` : h;
}

/** How to accept TCB status Unknown, named in every failure about it. */
export const ACCEPT_UNKNOWN_TCB = 'allowUnknownTcb: true in the policy (or "Unknown" in acceptedTcbStatuses; aenv verify --allow-unknown-tcb)';

/**
 * TCB status. Unknown (no collateral established the TCB level) fails unless the
 * policy accepts it explicitly; NotApplicable is the sim platform's (no TCB) and
 * valid on insecure claims only. Without acceptedTcbStatuses any other status but
 * Revoked passes.
 */
function tcbFailures(claims: Claims, policy: AppraisalPolicy): string[] {
  const status = claims.tcb.status;
  const accepted = policy.acceptedTcbStatuses && policy.acceptedTcbStatuses.length > 0 ? policy.acceptedTcbStatuses : undefined;
  if (status === 'NotApplicable' && !claims.insecure) return [`TCB status NotApplicable is only valid for a platform without a TCB (sim), not ${claims.platform}`];
  if (status === 'Unknown') {
    if (policy.allowUnknownTcb === true || accepted?.includes('Unknown')) return [];
    // An explicit list already says what is accepted; the default names the way to accept Unknown.
    if (accepted) return [`TCB status Unknown is not accepted (accepted: ${accepted.join(', ')})`];
    return [`TCB status Unknown is not accepted: no collateral established the TCB level of this ${claims.platform} evidence; configure collateral, or accept Unknown explicitly with ${ACCEPT_UNKNOWN_TCB}`];
  }
  if (accepted) return accepted.includes(status) ? [] : [`TCB status ${status} is not accepted (accepted: ${accepted.join(', ')})`];
  return status === 'Revoked' ? ['TCB status is Revoked'] : [];
}

export function appraise(claims: Claims, policy: AppraisalPolicy): AppraisalResult {
  const failures: string[] = [];
  if (policy.platforms && policy.platforms.length > 0 && !policy.platforms.includes(claims.platform)) {
    failures.push(`platform ${claims.platform} is not accepted (accepted: ${policy.platforms.join(', ')})`);
  }
  if (claims.insecure && policy.allowInsecure !== true) {
    failures.push(`platform ${claims.platform} is insecure (no hardware root of trust); set allowInsecure to accept it`);
  }
  if (claims.debug && policy.allowDebug !== true) {
    failures.push('debug mode is enabled in the TEE; set allowDebug to accept it');
  }
  for (const [name, expected] of Object.entries(policy.measurements ?? {})) {
    const allowed = (Array.isArray(expected) ? expected : [expected]).map(norm);
    const got = claims.measurements[name];
    if (got === undefined) {
      failures.push(`measurement ${name}: expected ${allowed.map(short).join(' | ')}, but the evidence has no ${name} (has: ${Object.keys(claims.measurements).join(', ')})`);
    } else if (!allowed.includes(norm(got))) {
      failures.push(`measurement ${name}: expected ${allowed.map(short).join(' | ')}, got ${short(norm(got))}`);
    }
  }
  failures.push(...tcbFailures(claims, policy));
  for (const [name, min] of Object.entries(policy.minTcbSvn ?? {})) {
    const got = claims.tcb.svn?.[name];
    if (typeof got !== 'number') failures.push(`TCB component ${name}: minimum ${min} required, but the evidence has none`);
    else if (got < min) failures.push(`TCB component ${name}: ${got} is below the minimum ${min}`);
  }
  if (policy.reportData !== undefined) {
    const want = norm(policy.reportData);
    if (want.length > 128 || want.length % 2 !== 0 || !/^[0-9a-f]*$/.test(want)) {
      failures.push('policy reportData must be at most 64 bytes of hex');
    } else {
      const padded = want.padEnd(128, '0');
      if (norm(claims.reportData) !== padded) failures.push(`report data: expected ${short(padded)}, got ${short(norm(claims.reportData))}`);
    }
  }
  return { ok: failures.length === 0, failures };
}
