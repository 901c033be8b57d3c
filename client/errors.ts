// The closed error table of the online client (what `aenv client` and its API throw).
import { defineErrors } from '../foundation/errors.ts';

export const ClientError = defineErrors('client', {
  /** The attestation endpoint (/.well-known/attestation, GetRaCert, sim key) did not answer 200. */
  ATTESTATION_UNAVAILABLE: 'unavailable',
  /** The verified key set has no key of the asked type. */
  KEY_NOT_FOUND: 'not_found',
  /** The app (through the ingress) answered an envelope with an error status. */
  APP_REFUSED: 'failed_precondition',
});
export type ClientError = InstanceType<typeof ClientError>;
