// Who may connect to a listening socket, enforced where it is bound:
//   unix   a socket file with `socketMode` (default 0660) in a directory we
//          create 0750: only the owner and its group can connect;
//   mtls   TCP with mutual TLS: a client certificate from `tls.clientCaFile`;
//   tcp    plaintext TCP, accepted on loopback only.
// A plaintext bind beyond loopback is refused before anything listens.
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { defineErrors } from '../foundation/errors.ts';

export const NetError = defineErrors('net', {
  /** A plaintext endpoint beyond loopback, or a TLS file that cannot be read. */
  INSECURE_LISTEN: 'failed_precondition',
  /** The socket path is taken by a live listener or is not a socket. */
  SOCKET_IN_USE: 'failed_precondition',
});

export interface ListenEndpoint {
  host?: string;
  port?: number;
  socket?: string;
  socketMode?: string;
  tls?: { certFile: string; keyFile: string; clientCaFile: string };
}

export type ListenKind = 'unix' | 'mtls' | 'tcp';

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * The endpoint's kind; throws INSECURE_LISTEN for plaintext TCP beyond
 * loopback, unless `protectedBy` names what authenticates every request there
 * instead (e.g. a bearer token, or the capsule manager's signed and encrypted
 * envelopes).
 */
export function listenKind(ep: ListenEndpoint, what: string, protectedBy?: string): ListenKind {
  if (ep.socket) return 'unix';
  if (ep.tls) return 'mtls';
  const host = ep.host ?? '127.0.0.1';
  if (!isLoopbackHost(host) && !protectedBy) {
    throw new NetError('INSECURE_LISTEN', `${what}: plaintext TCP on ${host} is refused beyond loopback; set ${what}.tls (mutual TLS) or ${what}.socket (a Unix socket)`);
  }
  return 'tcp';
}

function read(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new NetError('INSECURE_LISTEN', `${field} ${path} cannot be read`, { cause });
  }
}

/** Whether something accepts connections on the socket path. */
function socketLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

/**
 * Makes the socket's directory (0750 when we create it) and removes a stale
 * socket file left by a crash; refuses a live socket or a non-socket file.
 */
export async function prepareSocket(path: string, what: string): Promise<void> {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o750 });
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new NetError('SOCKET_IN_USE', `${what}.socket ${path} exists and is not a socket`);
  if (await socketLive(path)) throw new NetError('SOCKET_IN_USE', `${what}.socket ${path} is in use by another process`);
  unlinkSync(path);
}

/** Sets the socket file's permissions once it exists. */
export function restrictSocket(path: string, mode = '0660'): void {
  chmodSync(path, parseInt(mode, 8));
}

/** grpc-js bind target and credentials of an endpoint (after listenKind accepted it). */
export function grpcListen(ep: ListenEndpoint, what: string, protectedBy?: string): { target: string; credentials: grpc.ServerCredentials; kind: ListenKind } {
  const kind = listenKind(ep, what, protectedBy);
  if (kind === 'unix') return { target: `unix:${ep.socket}`, credentials: grpc.ServerCredentials.createInsecure(), kind };
  const host = ep.host ?? '127.0.0.1';
  const target = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${ep.port ?? 0}`;
  if (kind === 'tcp') return { target, credentials: grpc.ServerCredentials.createInsecure(), kind };
  const tls = ep.tls!;
  const credentials = grpc.ServerCredentials.createSsl(read(tls.clientCaFile, `${what}.tls.clientCaFile`), [{ cert_chain: read(tls.certFile, `${what}.tls.certFile`), private_key: read(tls.keyFile, `${what}.tls.keyFile`) }], true);
  return { target, credentials, kind };
}

/** https options for fastify (mutual TLS) of an endpoint, or undefined for plaintext/unix. */
export function httpsOptions(ep: ListenEndpoint, what: string): { cert: Buffer; key: Buffer; ca: Buffer; requestCert: true; rejectUnauthorized: true } | undefined {
  if (listenKind(ep, what) !== 'mtls') return undefined;
  const tls = ep.tls!;
  return { cert: read(tls.certFile, `${what}.tls.certFile`), key: read(tls.keyFile, `${what}.tls.keyFile`), ca: read(tls.clientCaFile, `${what}.tls.clientCaFile`), requestCert: true, rejectUnauthorized: true };
}
