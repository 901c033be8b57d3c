// The online client: what a caller of an attested app runs (attestation, sealed envelopes).
export { runOnlineClient, runTrustflowClient, type OnlineClientOptions, type OnlineClientResult } from './transport/online-client.ts';
export { ClientError } from './errors.ts';
