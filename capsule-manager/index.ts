// capsule-manager: its public face (other components import only this file).
export { CapsuleManagerConfigSchema } from './config.ts';
export { openRequest, openResponse, sealRequest, sealResponse } from './core/envelope.ts';
export { type Rule } from './core/model.ts';
export { OwnerConfigSchema } from './core/owner-config.ts';
export { partyIdOfCert, partyIdOfKey } from './core/party-id.ts';
export { generatePartyKeys, type PartyKeys } from './core/party-keys.ts';
export { startCapsuleManager } from './start.ts';
export { CapsuleManagerClient, ReleaseSession, ReleaseSessions, type RunningCapsuleManager } from './transport/client.ts';
export { AppAttesterSchema, AppCmConnectionSchema, appCmConnectionFields, CmVerifySchema, type AppCmConnection } from './config.ts';
export { connectAppToCm, type AppCmLink } from './transport/app-connection.ts';
