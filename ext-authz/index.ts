// ext-authz public API.
export { startExtAuthz, type ExtAuthzHandle } from './start.ts';
export { Authorizer, type AuthzInput } from './core/authorizer.ts';
export { RevocationList } from './core/revocation-list.ts';
export { ExtAuthzConfigSchema, type ExtAuthzConfig, type PolicyRule } from './config.ts';
export type { Decision, DecisionCode } from './core/decision.ts';
