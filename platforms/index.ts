// platforms: its public face. Attesters and verifiers per TEE (one folder each
// under plugins/, listed in catalog/index.ts), the one EvidenceVerifier users
// call, attester selection, the app identity and its attestation binding, the
// Trustflow report codec and client-side document verification.
export type { CommonAttesterOptions, CommonVerifierOptions, PlatformPlugin, PlatformVerifier, UalMapping } from './core/plugin.ts';
export type * from './core/types.ts';
export { PlatformError } from './errors.ts';
export { appraise } from './core/appraisal.ts';
export type { CollateralProvider, TcbQuery } from './core/collateral.ts';
export { createIntelCollateralProvider, type IntelTcbInfoEntry } from './core/dcap/intel-collateral.ts';
export { PLUGINS, PLATFORM_NAMES, isPlatformName, platformNameSchema, attesterPlatformSchema, pluginByName, type AttesterOptions, type VerifierOptions } from './catalog/index.ts';
export { createAttester, createEvidenceVerifier, type CreateAttesterOptions, type EvidenceVerifierOptions } from './catalog/factories.ts';
export { decodeEvidence, encodeEvidence } from './catalog/evidence-codec.ts';
export { APP_KEY_NAMES, attestationReportData, computeKeySetDigest, createEphemeralAppIdentity, type AppIdentity, type AppKey, type AppKeyName } from './core/app-identity.ts';
export { loadOrCreateAppIdentity } from './transport/app-identity-files.ts';
export { evidenceToUal, ualToEvidence, type UalReportJson } from './catalog/ual-report.ts';
export { raCertReportData, verifyAttestationDocument, verifyRaCertResponse, type AttestationDocument } from './catalog/verify-attestation.ts';
