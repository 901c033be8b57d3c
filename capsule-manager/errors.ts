// The capsule manager's closed error table: code -> kind (-> HTTP/gRPC status).
import { defineErrors } from '../foundation/errors.ts';

export const CmError = defineErrors('capsule-manager', {
  BAD_ENVELOPE: 'invalid_argument',
  BAD_SIGNATURE: 'unauthenticated',
  SIGNATURE_REQUIRED: 'unauthenticated',
  NOT_OWNER: 'permission_denied',
  UNKNOWN_PARTY: 'not_found',
  INVALID_REQUEST: 'invalid_argument',
  INVALID_CERT: 'invalid_argument',
  INVALID_EXPRESSION: 'invalid_argument',
  EXPRESSION_LIMIT: 'invalid_argument',
  NOT_FOUND: 'not_found',
  ALREADY_EXISTS: 'already_exists',
  CONFLICT: 'aborted',
  ATTESTATION_FAILED: 'permission_denied',
  /** A key release without freshness (request_time + nonce) where it is required. */
  FRESHNESS_REQUIRED: 'failed_precondition',
  /** A key release whose request_time is outside the window. */
  STALE_REQUEST: 'failed_precondition',
  /** A key release whose nonce was already used: a replay. */
  REPLAYED: 'permission_denied',
  POLICY_DENIED: 'permission_denied',
  /** A release-session message names a session this capsule manager does not hold (never opened, evicted, or opened before a restart): open a new one. */
  SESSION_UNKNOWN: 'unauthenticated',
  /** A release session past its expiry or its release count: open a new one. */
  SESSION_EXPIRED: 'unauthenticated',
  EXPORT_DENIED: 'permission_denied',
  KEK_MISMATCH: 'failed_precondition',
  STORE_LOCKED: 'failed_precondition',
  STORE_CORRUPT: 'internal',
  STORE_UNAVAILABLE: 'unavailable',
  CM_UNTRUSTED: 'permission_denied',
  UNSUPPORTED: 'failed_precondition',
  /** GetTlsAsset: initiator_party_id is not the signer's own party id. */
  INITIATOR_MISMATCH: 'permission_denied',
  /** Operator endpoints (audit/recent) without the configured bearer token. */
  UNAUTHENTICATED: 'unauthenticated',
  /** A configuration that would expose an operator endpoint (e.g. non-loopback HTTP without http.auditTokenFile). */
  INSECURE_CONFIG: 'failed_precondition',
});
export type CmError = InstanceType<typeof CmError>;
