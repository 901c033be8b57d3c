// platforms: its public face. Attesters and verifiers per TEE (one folder each
// under plugins/, listed in catalog/index.ts), the one EvidenceVerifier users
// call, attester selection, the app identity and its attestation binding, the
// Trustflow report codec and client-side document verification.
export type { CommonAttesterOptions, CommonVerifierOptions, PlatformPlugin, PlatformVerifier, UalMapping } from './core/plugin.ts';
export type * from './core/types.ts';
export { PlatformError } from './errors.ts';
export { appraise } from './core/appraisal.ts';
export { CHECK, CheckList, checkWarnings, setCheck, tcbStatusCheck, trailingBytesCheck, type CheckResult } from './core/checks.ts';
export type { CollateralProvider, DcapTcbFacts, TcbEvaluation, TcbQuery } from './core/collateral.ts';
export { createIntelCollateralProvider, evaluateIntelCollateral, verifyIntelCollateralDocuments, type CollateralDocument, type IntelCollateralOptions, type IntelCollateralSet, type IntelPckCrlEntry, type IntelQeIdentityEntry, type IntelTcbInfoEntry } from './core/dcap/intel-collateral.ts';
export { createCollateralDirProvider, readCollateralDir, writeCollateralDir, COLLATERAL_FORMAT, type CollateralBundle, type CollateralDirOptions, type CollateralManifest } from './transport/collateral-dir.ts';
export { fetchIntelCollateral, INTEL_PCS_URL, INTEL_ROOT_CA_CRL_URL, type CollateralFetchOptions, type FetchedCollateral } from './transport/collateral-fetch.ts';
export { collateralMain } from './transport/collateral-cli.ts';
export { PLUGINS, PLATFORM_NAMES, isPlatformName, platformNameSchema, attesterPlatformSchema, pluginByName, type AttesterOptions, type VerifierOptions } from './catalog/index.ts';
export { createAttester, createEvidenceVerifier, type CreateAttesterOptions, type EvidenceVerifierOptions } from './catalog/factories.ts';
export { decodeEvidence, encodeEvidence } from './catalog/evidence-codec.ts';
export { agreementKeysOfCert, APP_KEY_NAMES, attestationReportData, computeKeySetDigest, createEphemeralAppIdentity, AGREEMENT_KEY_URI, type AppIdentity, type AppKey, type AppKeyName } from './core/app-identity.ts';
export { loadOrCreateAppIdentity } from './transport/app-identity-files.ts';
export { evidenceToUal, ualToEvidence, type UalReportJson } from './catalog/ual-report.ts';
export { raCertReportData, verifyAttestationDocument, verifyRaCertResponse, type AttestationDocument } from './catalog/verify-attestation.ts';
