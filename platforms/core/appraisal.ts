// Appraisal: pure policy over verified claims. Every failed condition is listed
// in words a user can act on; nothing here touches signatures (verify did that).
import type { AppraisalPolicy, AppraisalResult, Claims } from './types.ts';

function norm(h: string): string {
  return h.trim().toLowerCase().replace(/^0x/, '');
}

function short(h: string): string {
  return h.length > 24 ? `${h.slice(0, 16)}..${h.slice(-8)}` : h;
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
  const accepted = policy.acceptedTcbStatuses;
  if (accepted && accepted.length > 0) {
    if (!accepted.includes(claims.tcb.status)) failures.push(`TCB status ${claims.tcb.status} is not accepted (accepted: ${accepted.join(', ')})`);
  } else if (claims.tcb.status === 'Revoked') {
    failures.push('TCB status is Revoked');
  }
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
