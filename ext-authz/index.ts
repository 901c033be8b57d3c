// ext-authz public API.
export { startExtAuthz, type ExtAuthzHandle } from './server.ts';
export { Authorizer, type AuthzInput } from './authorizer.ts';
export { RevocationList } from './revocation-list.ts';
export { ExtAuthzConfigSchema, type ExtAuthzConfig, type PolicyRule } from './config.ts';
export type { Decision, DecisionCode } from './decision.ts';
