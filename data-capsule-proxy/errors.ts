// The data capsule proxy's closed error table: code -> kind (the kind decides
// the HTTP and gRPC status, see foundation/errors.ts).
import { defineErrors } from '../foundation/errors.ts';

export const DcpError = defineErrors('data-capsule-proxy', {
  /** A data key that is not 16 or 32 bytes, or not standard base64. */
  ENC_BAD_KEY: 'invalid_argument',
  /** The 20-byte file header is missing, short or has an unknown version/schema/block length. */
  ENC_BAD_HEADER: 'invalid_argument',
  /** A block header is malformed (IV or MAC length other than 12/16). */
  ENC_BAD_BLOCK: 'invalid_argument',
  /** A block's GCM tag does not verify: wrong key or tampered data. */
  ENC_AUTH_FAILED: 'invalid_argument',
  /** Fewer bytes or blocks than the header announces. */
  ENC_TRUNCATED: 'invalid_argument',
  /** Bytes after the last announced block. */
  ENC_TRAILING_DATA: 'invalid_argument',
  /** The plaintext did not have the length announced to the encryptor. */
  ENC_LENGTH_MISMATCH: 'invalid_argument',
  /** Source and destination resolve to the same file. */
  SAME_PATH: 'invalid_argument',
  /** A request field is missing or contradictory. */
  INVALID_REQUEST: 'invalid_argument',
  /** A path escapes the configured roots or names something that is not there. */
  PATH_NOT_ALLOWED: 'permission_denied',
  SOURCE_NOT_FOUND: 'not_found',
  /** No `*.enc` object/file was found at the source. */
  NO_INPUT_FILES: 'not_found',
  /** Object storage answered with an error. */
  STORAGE_FAILED: 'unavailable',
  /** The capsule manager refused or failed a request. */
  CM_FAILED: 'failed_precondition',
  /** The capsule manager client is not configured. */
  CM_NOT_CONFIGURED: 'failed_precondition',
});
export type DcpError = InstanceType<typeof DcpError>;
