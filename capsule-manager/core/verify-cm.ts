// Client-side verification of the capsule manager's own report (GetRaCert):
// the evidence must verify through platforms/, pass the caller's appraisal
// policy (expected CM measurements, sim only when allowed) and bind
// SHA-256(cert "." nonce) for the caller's fresh nonce. Only then is the CM
// certificate trusted as the envelope recipient (Trustflow's proxy never did this).
import { ualToEvidence } from '../../platforms/index.ts';
import type { AppraisalPolicy, Claims, EvidenceVerifier } from '../../platforms/index.ts';
import { certBinding } from './envelope.ts';
import { CmError } from '../errors.ts';

export interface RaCertResponseJson {
  cert?: string;
  attestation_report?: unknown;
}

export async function verifyCapsuleManagerReport(resp: RaCertResponseJson, nonce: string, opts: { verifier: EvidenceVerifier; policy: AppraisalPolicy; now?: Date }): Promise<{ certPem: string; claims: Claims }> {
  const cert = resp.cert;
  if (typeof cert !== 'string' || !cert.includes('BEGIN CERTIFICATE')) throw new CmError('CM_UNTRUSTED', 'GetRaCert returned no certificate');
  const report = resp.attestation_report as { json_report?: string } | undefined;
  if (!report || !report.json_report) throw new CmError('CM_UNTRUSTED', 'the capsule manager sent no attestation report');
  let claims: Claims;
  try {
    claims = await opts.verifier.verify(ualToEvidence(report), { now: opts.now });
  } catch (cause) {
    throw new CmError('CM_UNTRUSTED', `capsule manager evidence does not verify: ${(cause as Error).message}`, { cause });
  }
  const result = opts.verifier.appraise(claims, { ...opts.policy, reportData: certBinding(cert, nonce).toString('hex') });
  if (!result.ok) throw new CmError('CM_UNTRUSTED', `capsule manager evidence rejected: ${result.failures.join('; ')}`, { details: { failures: result.failures } });
  return { certPem: cert, claims };
}
