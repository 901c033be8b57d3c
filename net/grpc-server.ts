// gRPC transport helpers: a server bound to loopback with server reflection (so
// `grpcurl -plaintext 127.0.0.1:<port> list|describe` works) and the mapping of
// AppError to gRPC status.
import { readFileSync } from 'node:fs';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import descriptorExt from 'protobufjs/ext/descriptor/index.js';
import { ReflectionService } from '@grpc/reflection';
import { toPublicError } from '../foundation/errors.ts';
import { PROJECT_ROOT } from '../foundation/project-root.ts';
import { grpcListen, prepareSocket, restrictSocket, type ListenEndpoint, type ListenKind } from './listen.ts';

let fileProtos: Buffer[] | undefined;
/**
 * protoc's own FileDescriptorProtos (fully qualified type names) from the
 * descriptor set proto/generate.ts writes, decoded once per process: every
 * gRPC server of a process shares them.
 */
function fileDescriptorProtos(): Buffer[] {
  if (!fileProtos) {
    const { FileDescriptorSet, FileDescriptorProto } = descriptorExt as unknown as {
      FileDescriptorSet: { decode(b: Uint8Array): { file: unknown[] } };
      FileDescriptorProto: { encode(m: unknown): { finish(): Uint8Array } };
    };
    const set = FileDescriptorSet.decode(readFileSync(join(PROJECT_ROOT, 'proto/gen/descriptors.pb')));
    fileProtos = set.file.map((f) => Buffer.from(FileDescriptorProto.encode(f).finish()));
  }
  return fileProtos;
}

/**
 * Adds gRPC server reflection for the given fully-qualified service names
 * (e.g. "envoy.service.discovery.v3.AggregatedDiscoveryService").
 */
export function addReflection(server: grpc.Server, services: string[]): void {
  // protoc's descriptors rather than proto-loader's re-serialised ones, whose
  // relative type names grpcurl cannot resolve.
  const root = { all: { fileDescriptorProtos: fileDescriptorProtos() } } as unknown as ConstructorParameters<typeof ReflectionService>[0];
  new ReflectionService(root, { services }).addToServer(server);
}

export interface BoundServer {
  server: grpc.Server;
  /** The TCP port (0 for a Unix socket). */
  port: number;
  /** host:port, or unix:<path>. */
  address: string;
  /** How callers are admitted: a Unix socket's permissions, mutual TLS, or loopback. */
  kind: ListenKind;
  /** Whether opts.receiveWindow took effect (false when not asked for). */
  receiveWindowApplied: boolean;
  close(): Promise<void>;
}

export interface GrpcServerOptions extends ListenEndpoint {
  /** The config field naming this endpoint, for errors (e.g. "xds"). */
  what?: string;
  /** What authenticates every request when it listens on plaintext TCP beyond loopback (else refused). */
  protectedBy?: string;
  /** Overrides the endpoint's credentials (tests). */
  credentials?: grpc.ServerCredentials;
  options?: grpc.ServerOptions;
  /**
   * HTTP/2 receive windows (bytes) to advertise instead of the 64 KiB defaults of
   * Node and grpc-js, for servers that receive large messages on many concurrent
   * streams: with 64 KiB for the whole connection, 87 KiB ext_proc messages wait
   * for WINDOW_UPDATEs and all streams queue behind one window.
   */
  receiveWindow?: { stream: number; connection: number };
}

/**
 * grpc-js has no option for the HTTP/2 receive windows, so they are set on its
 * http2 servers (a private field of grpc-js 1.x, checked: a grpc-js that renames
 * it leaves the defaults, and the caller learns so from the return value).
 */
function applyReceiveWindow(server: grpc.Server, win: { stream: number; connection: number }): boolean {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) return false;
  for (const h of servers.keys() as IterableIterator<Http2Server>) {
    if (typeof h.updateSettings !== 'function') return false;
    h.updateSettings({ initialWindowSize: win.stream });
    h.on('session', (session: ServerHttp2Session) => session.setLocalWindowSize(win.connection));
  }
  return true;
}

/**
 * Binds per the endpoint (default 127.0.0.1:0): a Unix socket (permissions set
 * once bound), mutual TLS, or plaintext loopback TCP; a plaintext bind beyond
 * loopback is refused (net/listen.ts). Resolves with the address.
 */
export async function bindServer(server: grpc.Server, opts: GrpcServerOptions = {}): Promise<BoundServer> {
  const what = opts.what ?? 'grpc';
  const { target, credentials, kind } = grpcListen(opts, what, opts.protectedBy);
  if (kind === 'unix') await prepareSocket(opts.socket!, what);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(target, opts.credentials ?? credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  if (kind === 'unix') restrictSocket(opts.socket!, opts.socketMode);
  const receiveWindowApplied = opts.receiveWindow ? applyReceiveWindow(server, opts.receiveWindow) : false;
  const host = opts.host ?? '127.0.0.1';
  return {
    server,
    port: kind === 'unix' ? 0 : port,
    address: kind === 'unix' ? `unix:${opts.socket}` : `${host}:${port}`,
    kind,
    receiveWindowApplied,
    close: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}

/** A gRPC ServiceError for anything thrown (AppError keeps its code; other errors become INTERNAL). */
export function toGrpcError(e: unknown): Partial<grpc.ServiceError> {
  const pub = toPublicError(e);
  const metadata = new grpc.Metadata();
  metadata.set('x-error-code', pub.body.code);
  return { code: pub.grpcStatus, details: `${pub.body.code}: ${pub.body.message}`, metadata };
}
