// The closed error table of platforms/: every verification failure names its
// precise reason, so a data owner knows which check failed (signature, chain,
// anchor, validity, binding) instead of a bare "attestation failed".
import { defineErrors } from '../foundation/errors.ts';

export const PlatformError = defineErrors('platforms', {
  /** Bytes do not parse as the platform's quote/report structure. */
  EVIDENCE_MALFORMED: 'invalid_argument',
  /** A quote/report version or body type this verifier does not implement. */
  UNSUPPORTED_VERSION: 'invalid_argument',
  /** No verifier for that platform in this build or it is disabled by options. */
  UNKNOWN_PLATFORM: 'invalid_argument',
  /** The signature over the signed region does not verify. */
  SIGNATURE_INVALID: 'unauthenticated',
  /** A certificate in the chain does not verify against its issuer. */
  CHAIN_INVALID: 'unauthenticated',
  /** The chain does not end in a configured trust anchor. */
  UNTRUSTED_ROOT: 'unauthenticated',
  /** A certificate of the chain is past notAfter at the verification time. */
  CERT_EXPIRED: 'unauthenticated',
  /** A certificate of the chain is before notBefore at the verification time. */
  CERT_NOT_YET_VALID: 'unauthenticated',
  /** The platform's QE/PSP binding (QE report data, VCEK chip id / TCB) does not match. */
  BINDING_INVALID: 'unauthenticated',
  /** Report data differs from what the verifier expected. */
  REPORT_DATA_MISMATCH: 'permission_denied',
  /** The claims do not satisfy the appraisal policy. */
  POLICY_REJECTED: 'permission_denied',
  /** Deployment configuration (trust anchor, key, AK) missing for a platform. */
  TRUST_ANCHOR_MISSING: 'failed_precondition',
  /** Collateral present but invalid (bad signature, expired, wrong FMSPC). */
  COLLATERAL_INVALID: 'unauthenticated',
  /** Collateral (TCB Info, QE Identity, a CRL) is past its nextUpdate (or not yet issued) at the verification time: fetch it anew. */
  COLLATERAL_EXPIRED: 'failed_precondition',
  /** A certificate of the chain (PCK, PCK CA, TCB signing) is listed in its issuer's CRL. */
  CERT_REVOKED: 'unauthenticated',
  /** The QE report does not match Intel's QE Identity (MRSIGNER, ISVPRODID, MISCSELECT, ATTRIBUTES, or its id/TEE). */
  QE_IDENTITY_MISMATCH: 'unauthenticated',
  /** The TDX module (MRSIGNERSEAM, SEAMATTRIBUTES, its version) does not match the TDX module identities of the TCB Info. */
  TDX_MODULE_MISMATCH: 'unauthenticated',
  /** No TCB level of the TCB Info (or of the QE / TDX module identity) covers the platform: Intel does not support this TCB. */
  TCB_NOT_SUPPORTED: 'unauthenticated',
  /** A collateral service (PCS, PCCS) could not be reached or did not answer 200. */
  COLLATERAL_UNAVAILABLE: 'unavailable',
  /** No TEE detected for `auto`, or the named TEE is absent on this machine. */
  NO_PLATFORM: 'failed_precondition',
  /** The TEE device/configfs refused or returned something unusable. */
  DEVICE_ERROR: 'unavailable',
  /** Caller passed bad input (report data too long, bad options). */
  INVALID_INPUT: 'invalid_argument',
  /** An attestation document (ra-proxy) is inconsistent: nonce, binding, JWKS, cert. */
  DOCUMENT_INVALID: 'unauthenticated',
});
export type PlatformError = InstanceType<typeof PlatformError>;
