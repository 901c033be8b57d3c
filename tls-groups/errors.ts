// Closed error table of the group TLS derivation (see docs/groups.md).
import { defineErrors } from '../foundation/errors.ts';

export const TlsGroupError = defineErrors('tls-groups', {
  BAD_DATA_KEY: 'invalid_argument',
  BAD_GROUP_CONTEXT: 'invalid_argument',
  BAD_PARTY_ID: 'invalid_argument',
  UNSUPPORTED_PUBLIC_KEY: 'invalid_argument',
  BAD_EVIDENCE_DIGEST: 'invalid_argument',
  BAD_VALIDITY: 'invalid_argument',
  BAD_CERTIFICATE: 'invalid_argument',
  NOT_A_MEMBER: 'permission_denied',
  CERT_EXPIRED: 'permission_denied',
  CERT_NOT_YET_VALID: 'permission_denied',
});
export type TlsGroupError = InstanceType<typeof TlsGroupError>;
