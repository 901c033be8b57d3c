// The closed error table of ext-proc. Every code maps to one kind, which decides
// the HTTP status of the immediate response Envoy sends to the client (400/401/413).
// Messages are safe to send; `cause` (crypto library errors) is only logged.
import { defineErrors } from '../foundation/errors.ts';

export const ExtProcError = defineErrors('ext-proc', {
  /** Body claims to be a JWE (content type or shape) but is not well formed. */
  MALFORMED_ENVELOPE: 'invalid_argument',
  /** alg not supported (or not allowed by config). */
  UNSUPPORTED_ALG: 'invalid_argument',
  /** enc not supported. */
  UNSUPPORTED_ENC: 'invalid_argument',
  /** Header parameter this server does not understand (crit, zip, ...). */
  UNSUPPORTED_HEADER: 'invalid_argument',
  /** No app key matches the kid/alg/curve of the envelope. */
  UNKNOWN_KEY: 'invalid_argument',
  /** Key unwrap or authenticated decryption failed (wrong key, tampered data). */
  DECRYPT_FAILED: 'invalid_argument',
  /** `dir` envelope whose session id is unknown or expired. */
  SESSION_UNKNOWN: 'unauthenticated',
  /** Body larger than the configured limit. */
  BODY_TOO_LARGE: 'payload_too_large',
  /** Plain request where the config requires an envelope. */
  ENCRYPTION_REQUIRED: 'invalid_argument',
  /** Response could not be encrypted; nothing is returned in the clear. */
  RESPONSE_ENCRYPT_FAILED: 'internal',
});
export type ExtProcError = InstanceType<typeof ExtProcError>;
export type ExtProcErrorCode = keyof typeof ExtProcError.codes;
