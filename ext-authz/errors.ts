// Closed error table of ext-authz. Deny decisions are results (see decision.ts),
// not exceptions; these errors are for bad config and bad admin API input.
import { defineErrors } from '../foundation/errors.ts';

export const ExtAuthzError = defineErrors('ext-authz', {
  BAD_GROUP_CA: 'invalid_argument',
  BAD_REVOCATION: 'invalid_argument',
  BAD_POLICY: 'invalid_argument',
  JWKS_UNAVAILABLE: 'unavailable',
});
export type ExtAuthzError = InstanceType<typeof ExtAuthzError>;
