// The ra-proxy core: turns a nonce into evidence bound to the app identity.
// Pure of transports (fastify and grpc-js adapt it in http.ts / grpc.ts).
//   GetRaCert (Trustflow): REPORT_DATA[0..32) = SHA-256(cert_pem "." nonce)
//   attestation document:  REPORT_DATA = SHA-256(nonce) || keySetDigest
import { attestationReportData, type AppIdentity } from '../../platforms/index.ts';
import { raCertReportData, type AttestationDocument } from '../../platforms/index.ts';
import { encodeEvidence } from '../../platforms/index.ts';
import type { Attester, Evidence } from '../../platforms/index.ts';
import { evidenceToUal, type UalReportJson } from '../../platforms/index.ts';
import { RaProxyError } from '../errors.ts';
import { DOCUMENT_NONCE, RA_CERT_NONCE, type NonceGuard } from './nonce-guard.ts';

export interface RaCertResult {
  status: { code: number; message: string };
  cert: string;
  attestation_report: UalReportJson;
}

export interface RaService {
  getRaCert(nonce: unknown): Promise<RaCertResult>;
  attestationDocument(nonce: unknown): Promise<AttestationDocument>;
  /** PEM of the sim signing key when the attester is sim (demos only). */
  simPublicKeyPem(): string | undefined;
  readonly platform: string;
}

export interface RaServiceDeps {
  attester: Attester & { simPublicKeyPem?: string };
  identity: AppIdentity;
  nonces: NonceGuard;
}

export function createRaService(deps: RaServiceDeps): RaService {
  async function evidence(rd: Buffer): Promise<Evidence> {
    try {
      return await deps.attester.getEvidence(rd);
    } catch (cause) {
      throw new RaProxyError('ATTESTATION_FAILED', `the ${deps.attester.platform} attester could not produce evidence`, { cause });
    }
  }
  return {
    platform: deps.attester.platform,
    async getRaCert(nonce) {
      const n = deps.nonces.accept(nonce, RA_CERT_NONCE);
      const ev = await evidence(raCertReportData(deps.identity.certPem, n));
      return { status: { code: 0, message: 'success' }, cert: deps.identity.certPem, attestation_report: evidenceToUal(ev) };
    },
    async attestationDocument(nonce) {
      const n = deps.nonces.accept(nonce, DOCUMENT_NONCE);
      const rd = attestationReportData(n, deps.identity.keySetDigest);
      const ev = await evidence(rd);
      return { nonce: n, evidence: encodeEvidence(ev), jwks: deps.identity.jwks(), cert: deps.identity.certPem, binding: rd.toString('hex') };
    },
    simPublicKeyPem: () => deps.attester.simPublicKeyPem,
  };
}
