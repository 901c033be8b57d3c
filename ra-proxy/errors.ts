import { defineErrors } from '../foundation/errors.ts';

export const RaProxyError = defineErrors('ra-proxy', {
  NONCE_MISSING: 'invalid_argument',
  NONCE_TOO_LONG: 'invalid_argument',
  NONCE_INVALID: 'invalid_argument',
  /** The nonce was seen within the replay window. */
  NONCE_REPLAYED: 'already_exists',
  /** Too many live nonces: fail closed rather than forget one. */
  NONCE_CAPACITY: 'resource_exhausted',
  /** The TEE did not produce evidence. */
  ATTESTATION_FAILED: 'unavailable',
  SIM_KEY_UNAVAILABLE: 'not_found',
});
export type RaProxyError = InstanceType<typeof RaProxyError>;
