import { defineErrors } from '../foundation/errors.ts';

export const ControlPlaneError = defineErrors('control-plane', {
  INCONSISTENT_SNAPSHOT: 'failed_precondition',
  INVALID_APP_CONFIG: 'invalid_argument',
  UNKNOWN_PLUGIN: 'invalid_argument',
  TRANSLATION_FAILED: 'invalid_argument',
  INVALID_SECRET: 'invalid_argument',
  NOT_FOUND: 'not_found',
  CONFLICT: 'aborted',
  UNKNOWN_TYPE: 'invalid_argument',
  MISSING_NODE: 'invalid_argument',
  /** The node id is not the one the client certificate names (mTLS xDS). */
  NODE_ID_MISMATCH: 'permission_denied',
  /** SDS over a transport that cannot tell who asks (plaintext TCP): secrets are not served there. */
  SECRETS_REFUSED: 'permission_denied',
  UNAVAILABLE: 'unavailable',
  UNAUTHENTICATED: 'unauthenticated',
  INSECURE_CONFIG: 'failed_precondition',
  BAD_UPSTREAM_RESPONSE: 'unavailable',
});
export type ControlPlaneError = InstanceType<typeof ControlPlaneError>;
