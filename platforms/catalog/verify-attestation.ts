// Client-side checks a data owner (or D's ext-proc client) runs against what
// ra-proxy serves. Nothing is trusted until: the evidence verifies, its report
// data equals the binding recomputed from the caller's own nonce and the served
// keys, and the claims pass the caller's policy.
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { attestationReportData, computeKeySetDigest } from '../core/app-identity.ts';
import { PlatformError } from '../errors.ts';
import { decodeEvidence } from './evidence-codec.ts';
import { ualToEvidence } from './ual-report.ts';
import type { AppraisalPolicy, Claims, EvidenceVerifier } from '../core/types.ts';

export interface AttestationDocument {
  nonce: string;
  evidence: { platform: string; quote: string; aux?: Record<string, string> };
  jwks: { keys: Array<Record<string, string>> };
  cert: string;
  binding: string;
}

export interface VerifyAttestationOptions {
  nonce: string;
  policy: AppraisalPolicy;
  /** The verifier with the deployment's trust anchors (platforms' createEvidenceVerifier). */
  verifier: EvidenceVerifier;
  now?: Date;
}

export interface VerifiedAttestation {
  claims: Claims;
  jwks: { keys: Array<Record<string, string>> };
  keySetDigest: Buffer;
}

const bad = (msg: string, details?: Record<string, unknown>) => new PlatformError('DOCUMENT_INVALID', msg, details ? { details } : undefined);

function kidOf(k: KeyObject): string {
  return createHash('sha256').update(k.export({ type: 'spki', format: 'der' })).digest('base64url').slice(0, 16);
}

function importJwk(jwk: Record<string, string>, i: number): KeyObject {
  if ('d' in jwk) throw bad(`jwks.keys[${i}] contains private key material`);
  try {
    return createPublicKey({ key: jwk as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch (cause) {
    throw new PlatformError('DOCUMENT_INVALID', `jwks.keys[${i}] is not a valid public JWK`, { cause });
  }
}

function applyPolicy(v: EvidenceVerifier, claims: Claims, policy: AppraisalPolicy): void {
  const r = v.appraise(claims, policy);
  if (!r.ok) throw new PlatformError('POLICY_REJECTED', `attestation rejected by policy: ${r.failures.join('; ')}`, { details: { failures: r.failures, checks: claims.checks } });
}

/** Verifies a /.well-known/attestation document for the caller's nonce. */
export async function verifyAttestationDocument(doc: unknown, opts: VerifyAttestationOptions): Promise<VerifiedAttestation> {
  if (!doc || typeof doc !== 'object') throw bad('attestation document must be a JSON object');
  const d = doc as Partial<AttestationDocument>;
  if (typeof d.nonce !== 'string' || d.nonce !== opts.nonce) throw bad('attestation document nonce differs from the nonce that was sent');
  if (!d.jwks || !Array.isArray(d.jwks.keys) || d.jwks.keys.length === 0 || d.jwks.keys.length > 8) throw bad('attestation document has no valid jwks');
  const keys = d.jwks.keys.map((j, i) => {
    if (!j || typeof j !== 'object') throw bad(`jwks.keys[${i}] is not an object`);
    const k = importJwk(j, i);
    if (j.kid !== kidOf(k)) throw bad(`jwks.keys[${i}].kid does not match its key`);
    return k;
  });
  const keySetDigest = computeKeySetDigest(keys);
  const expected = attestationReportData(opts.nonce, keySetDigest);
  if (typeof d.binding !== 'string' || d.binding.toLowerCase() !== expected.toString('hex')) throw bad('attestation document binding is not sha256(nonce)||keySetDigest of the served keys');
  if (typeof d.cert === 'string' && d.cert.length > 0) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(d.cert);
    } catch (cause) {
      throw new PlatformError('DOCUMENT_INVALID', 'attestation document cert is not a PEM certificate', { cause });
    }
    if (!keys.some((k) => k.equals(cert.publicKey))) throw bad('attestation document cert does not certify a key of the jwks');
  }
  const verifier = opts.verifier;
  const claims = await verifier.verify(decodeEvidence(d.evidence), { now: opts.now });
  if (claims.reportData.toLowerCase() !== expected.toString('hex')) {
    throw new PlatformError('REPORT_DATA_MISMATCH', 'the evidence report data does not bind this nonce and key set (expected sha256(nonce)||keySetDigest)');
  }
  applyPolicy(verifier, claims, opts.policy);
  return { claims, jwks: { keys: d.jwks.keys }, keySetDigest };
}

export interface VerifiedRaCert {
  claims: Claims;
  certPem: string;
  publicKey: KeyObject;
}

/** Trustflow's form: report data[0..32) = SHA-256(cert_pem "." nonce). */
export function raCertReportData(certPem: string, nonce: string): Buffer {
  const out = Buffer.alloc(64);
  createHash('sha256').update(`${certPem}.${nonce}`, 'utf8').digest().copy(out);
  return out;
}

/** Verifies a GetRaCert response (JSON, snake_case) for the caller's nonce. */
export async function verifyRaCertResponse(resp: unknown, opts: VerifyAttestationOptions): Promise<VerifiedRaCert> {
  if (!resp || typeof resp !== 'object') throw bad('GetRaCert response must be a JSON object');
  const r = resp as { status?: { code?: number; message?: string }; cert?: unknown; attestation_report?: unknown };
  if (r.status && r.status.code !== 0 && r.status.code !== undefined) throw bad(`GetRaCert failed: ${r.status.message ?? r.status.code}`);
  if (typeof r.cert !== 'string') throw bad('GetRaCert response has no cert');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(r.cert);
  } catch (cause) {
    throw new PlatformError('DOCUMENT_INVALID', 'GetRaCert cert is not a PEM certificate', { cause });
  }
  const verifier = opts.verifier;
  const claims = await verifier.verify(ualToEvidence(r.attestation_report), { now: opts.now });
  if (claims.reportData.toLowerCase() !== raCertReportData(r.cert, opts.nonce).toString('hex')) {
    throw new PlatformError('REPORT_DATA_MISMATCH', 'the report data is not SHA-256(cert "." nonce) for this nonce');
  }
  applyPolicy(verifier, claims, opts.policy);
  return { claims, certPem: r.cert, publicKey: cert.publicKey };
}
