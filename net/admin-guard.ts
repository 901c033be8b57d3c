// Who may use an admin API (routing API, ext-authz groups and revocations,
// operator endpoints): every change needs a credential, even on loopback (a
// bearer token from a file, or a client certificate on a mutual-TLS endpoint);
// reads need it too once the endpoint is reachable beyond this host. Without a
// configured credential the changes are refused with a message naming the field.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { defineErrors } from '../foundation/errors.ts';
import { readSecretFile } from '../foundation/secret-file.ts';
import { isLoopbackHost, type ListenEndpoint } from './listen.ts';

export const AdminError = defineErrors('admin', {
  /** No valid credential on a request that needs one. */
  ADMIN_UNAUTHENTICATED: 'unauthenticated',
  /** No credential is configured, so changes are disabled. */
  ADMIN_DISABLED: 'permission_denied',
  /** The configured token file is missing, unreadable or too short. */
  TOKEN_FILE_INVALID: 'failed_precondition',
});

/** The admin bearer token from its file (at least 16 characters), read before anything listens. */
export function readAdminToken(path: string, field: string): string {
  return readSecretFile(path, field, (_, message, cause) => new AdminError('TOKEN_FILE_INVALID', message, { cause }), 16);
}

export interface AdminGuardOptions {
  /** The bearer token (from the endpoint's tokenFile), if configured. */
  token?: string;
  /** The endpoint the API listens on: decides whether reads need the credential too. */
  endpoint: ListenEndpoint;
  /** The config field holding the token file, named in errors (e.g. "api.tokenFile"). */
  tokenField: string;
  /** Paths served without a credential (e.g. /health). */
  open?: string[];
  /** Decides per request whether it is an admin request at all (default: every route). */
  applies?: (req: FastifyRequest) => boolean;
}

/** Whether an endpoint is reachable only from this host (Unix socket or loopback TCP). */
export function localOnly(ep: ListenEndpoint): boolean {
  return !!ep.socket || (!ep.tls && isLoopbackHost(ep.host ?? '127.0.0.1'));
}

export function guardAdmin(app: FastifyInstance, o: AdminGuardOptions): void {
  const expected = o.token ? createHash('sha256').update(o.token).digest() : undefined;
  const readsOpen = localOnly(o.endpoint);
  const open = new Set(['/health', ...(o.open ?? [])]);
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0]!;
    if (open.has(path) || (o.applies && !o.applies(req))) return;
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (read && readsOpen) return;
    // A client certificate the server verified (mutual-TLS endpoint) is a credential.
    if ((req.raw.socket as TLSSocket).authorized === true) return;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (expected && m && timingSafeEqual(createHash('sha256').update(m[1]!).digest(), expected)) return;
    if (!expected && !read) throw new AdminError('ADMIN_DISABLED', `changes need a credential: set ${o.tokenField} (a bearer token file) or serve this API over mutual TLS`);
    throw new AdminError('ADMIN_UNAUTHENTICATED', `a valid bearer token (${o.tokenField}) is required${read ? ' to read this API beyond loopback' : ' to change this service'}`);
  });
}
