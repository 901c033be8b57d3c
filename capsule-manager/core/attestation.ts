// Verifies an app's attestation report for the capsule manager: the evidence
// must verify through platforms/, pass the deployment's appraisal policy and
// carry the expected binding in its report data. The TEE environment that
// constraint expressions see (r.env.tee) is built from these VERIFIED claims
// only, never from what the client wrote into env.
import { createHash } from 'node:crypto';
import { ualToEvidence } from '../../platforms/index.ts';
import type { AppraisalPolicy, Claims, EvidenceVerifier } from '../../platforms/index.ts';
import { CmError } from '../errors.ts';

export interface VerifiedApp {
  claims: Claims;
  evidenceDigest: Buffer;
}

export async function verifyAppReport(report: unknown, binding: Buffer, verifier: EvidenceVerifier, policy: AppraisalPolicy): Promise<VerifiedApp> {
  if (!report || typeof report !== 'object' || !(report as { json_report?: string }).json_report) throw new CmError('ATTESTATION_FAILED', 'attestation_report is required');
  let claims: Claims;
  let quote: Uint8Array;
  try {
    const evidence = ualToEvidence(report);
    quote = evidence.quote;
    claims = await verifier.verify(evidence);
  } catch (cause) {
    throw new CmError('ATTESTATION_FAILED', `attestation report does not verify: ${(cause as Error).message}`, { cause });
  }
  const result = verifier.appraise(claims, { ...policy, reportData: binding.toString('hex') });
  if (!result.ok) throw new CmError('ATTESTATION_FAILED', `attestation report rejected: ${result.failures.join('; ')}`, { details: { failures: result.failures } });
  return { claims, evidenceDigest: createHash('sha256').update(quote).digest() };
}

/** r.env.tee: {platform, <platform>: {measurements...}, debug, insecure, tcb_status}. */
export function teeEnv(claims: Claims | undefined): Record<string, unknown> {
  if (!claims) return { platform: 'none' };
  const key = claims.platform.replace(/-/g, '_');
  return { platform: claims.platform, [key]: { ...claims.measurements }, debug: claims.debug, insecure: claims.insecure, tcb_status: claims.tcb.status };
}
