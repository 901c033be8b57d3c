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
  UNAVAILABLE: 'unavailable',
  UNAUTHENTICATED: 'unauthenticated',
  INSECURE_CONFIG: 'failed_precondition',
  BAD_UPSTREAM_RESPONSE: 'unavailable',
});
export type ControlPlaneError = InstanceType<typeof ControlPlaneError>;
