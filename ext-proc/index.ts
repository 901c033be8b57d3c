// ext-proc: its public face (other components import only this file).
export { CONTENT_ENCS, ExtProcConfigSchema, KEY_ALGS, type ContentEnc } from './config.ts';
export { SESSION_HEADER, openResponse, sealRequest, sealSessionRequest, sessionFromResponse, type Jwk, type Sealed } from './core/envelope-client.ts';
export { EnvelopeExchange, type EnvelopeContext } from './core/envelope-exchange.ts';
export { SessionTable, deriveSessionKey } from './core/session-table.ts';
