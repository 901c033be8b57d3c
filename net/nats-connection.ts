// How the capsule manager's store and the control plane's routing sync
// authenticate to NATS: TLS (server verification against a CA, and a client
// certificate where the servers require one) and one of user/password, token or
// user nkey. Secrets are read from files, never from the config itself, so a
// config can be logged or shown; a bad file fails startup with a clear error
// and connects to nothing.
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { nkeyAuthenticator, tokenAuthenticator, usernamePasswordAuthenticator, type ConnectionOptions } from 'nats';
import { ConfigError } from '../foundation/config.ts';
import { readSecretFile } from '../foundation/secret-file.ts';

export const NatsTls = Type.Object(
  {
    /** PEM bundle of the CAs that sign the nats-servers' certificates. */
    caFile: Type.String({ minLength: 1, description: "PEM bundle of the CAs that sign the nats-servers' certificates" }),
    /** Client certificate (PEM, with keyFile) for servers that verify clients (tls verify). */
    certFile: Type.Optional(Type.String({ minLength: 1, description: 'client certificate (PEM), for servers that verify clients; with keyFile' })),
    /** Private key (PEM) of certFile. */
    keyFile: Type.Optional(Type.String({ minLength: 1, description: 'private key (PEM) of certFile' })),
  },
  { additionalProperties: false },
);

/**
 * Connection security fields, spread into each component's `nats` object. With
 * `tls`, the connection is refused unless the server offers TLS with a
 * certificate the CA signs. At most one of user/passwordFile, tokenFile and
 * nkeySeedFile.
 */
export const natsSecurityProperties = {
  tls: Type.Optional(NatsTls),
  /** User name (with passwordFile). */
  user: Type.Optional(Type.String({ minLength: 1, description: 'user name; with passwordFile' })),
  /** File holding the user's password. */
  passwordFile: Type.Optional(Type.String({ minLength: 1, description: "file holding the user's password" })),
  /** File holding the server's authorization token. */
  tokenFile: Type.Optional(Type.String({ minLength: 1, description: 'file holding an authorization token' })),
  /** File holding a user nkey seed (SU...); the server knows its public key (U...). */
  nkeySeedFile: Type.Optional(Type.String({ minLength: 1, description: 'file holding a user nkey seed (SU...)' })),
};

const NatsSecurity = Type.Object(natsSecurityProperties);
export type NatsSecurity = Static<typeof NatsSecurity>;

function readSecret(path: string, field: string): string {
  return readSecretFile(path, field, (problem, message, cause) => new ConfigError(problem === 'unreadable' ? 'CONFIG_UNREADABLE' : 'CONFIG_INVALID', message, { cause }));
}

function checkReadable(path: string, field: string): void {
  try {
    readFileSync(path);
  } catch (cause) {
    throw new ConfigError('CONFIG_UNREADABLE', `${field} ${path} cannot be read`, { cause });
  }
}

/**
 * The nats.js connection options for `s` (`field` names the config object in
 * errors, e.g. "storage.nats"). Secrets are read once, here: a rotated password
 * or seed takes a restart. TLS files are checked here and read by nats.js on
 * every (re)connect, so rotated certificates apply on the next reconnect.
 */
export function natsSecurityOptions(s: NatsSecurity, field: string): Pick<ConnectionOptions, 'authenticator' | 'tls'> {
  const methods = [s.user !== undefined || s.passwordFile !== undefined, s.tokenFile !== undefined, s.nkeySeedFile !== undefined].filter(Boolean).length;
  if (methods > 1) throw new ConfigError('CONFIG_INVALID', `${field}: set only one of user/passwordFile, tokenFile, nkeySeedFile`);
  if ((s.user === undefined) !== (s.passwordFile === undefined)) throw new ConfigError('CONFIG_INVALID', `${field}: user and passwordFile go together`);
  if ((s.tls?.certFile === undefined) !== (s.tls?.keyFile === undefined)) throw new ConfigError('CONFIG_INVALID', `${field}.tls: certFile and keyFile go together`);
  const out: Pick<ConnectionOptions, 'authenticator' | 'tls'> = {};
  if (s.user !== undefined && s.passwordFile !== undefined) {
    out.authenticator = usernamePasswordAuthenticator(s.user, readSecret(s.passwordFile, `${field}.passwordFile`));
  } else if (s.tokenFile !== undefined) {
    out.authenticator = tokenAuthenticator(readSecret(s.tokenFile, `${field}.tokenFile`));
  } else if (s.nkeySeedFile !== undefined) {
    const seed = readSecret(s.nkeySeedFile, `${field}.nkeySeedFile`);
    if (!/^SU[A-Z2-7]{50,}$/.test(seed)) throw new ConfigError('CONFIG_INVALID', `${field}.nkeySeedFile ${s.nkeySeedFile} does not hold a user nkey seed (SU...)`);
    out.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (s.tls) {
    checkReadable(s.tls.caFile, `${field}.tls.caFile`);
    if (s.tls.certFile) checkReadable(s.tls.certFile, `${field}.tls.certFile`);
    if (s.tls.keyFile) checkReadable(s.tls.keyFile, `${field}.tls.keyFile`);
    out.tls = { caFile: s.tls.caFile, ...(s.tls.certFile ? { certFile: s.tls.certFile, keyFile: s.tls.keyFile } : {}) };
  }
  return out;
}
