// Wires config, logger, app identity, session table, metrics and the gRPC + HTTP
// servers of ext-proc. The only place that does so.
import { Gauge } from 'prom-client';
import type { AppIdentity } from '../platforms/index.ts';
import { loadOrCreateAppIdentity } from '../platforms/index.ts';
import { addReflection, bindServer } from '../net/grpc-server.ts';
import { createHttpService, listenHttp } from '../net/http-server.ts';
import { createLogger, type Logger } from '../foundation/logger.ts';
import { createMetrics } from '../foundation/metrics.ts';
import { parseExtProcConfig, type ExtProcConfig } from './config.ts';
import { contextFromConfig } from './core/envelope-exchange.ts';
import { createExtProcMetrics } from './transport/metrics.ts';
import { createExtProcServer, EXT_PROC_SERVICE } from './transport/ext-proc-grpc.ts';
import { deriveTicketKey, SessionTable } from './core/session-table.ts';

export interface ExtProcHandle {
  port: number;
  address: string;
  httpPort: number | undefined;
  identity: AppIdentity;
  sessions: SessionTable;
  close(): Promise<void>;
}

export interface StartExtProcOptions {
  /** Use this identity instead of loading config.identityDir (tests, benchmarks). */
  identity?: AppIdentity;
  logger?: Logger;
}

export async function startExtProc(input: unknown, opts: StartExtProcOptions = {}): Promise<ExtProcHandle> {
  const cfg: ExtProcConfig = parseExtProcConfig(input);
  const logger = opts.logger ?? createLogger('ext-proc', { level: cfg.logLevel });
  const identity = opts.identity ?? (await loadOrCreateAppIdentity(cfg.identityDir));
  // Every ext-proc process of this app identity derives the same ticket key, so
  // sessions work across processes, replicas and restarts.
  const rsaDer = identity.keys.rsa.privateKey.export({ format: 'der', type: 'pkcs8' });
  const ticketKey = deriveTicketKey(rsaDer);
  rsaDer.fill(0);
  const sessions = new SessionTable({ ttlMs: cfg.session.ttlSeconds * 1000, maxEntries: cfg.session.maxEntries, maxUses: cfg.session.maxUses, ticketKey });
  const m = createMetrics('ext_proc');
  const metrics = createExtProcMetrics(m);
  new Gauge({ name: 'aenv_ext_proc_sessions', help: 'Envelope sessions this process tracks (uses counted)', registers: [m.registry], collect() { this.set(sessions.size); } });
  const server = createExtProcServer({ context: contextFromConfig(cfg, identity, sessions), logger, metrics });
  addReflection(server, [EXT_PROC_SERVICE]);
  // A stream window that holds the largest side-stream message (a body of
  // maxBodyBytes as base64url JSON), and room for many such streams at once,
  // up to 64 MiB unacknowledged per connection.
  const streamWindow = Math.min(2 ** 31 - 1, Math.max(65_535, Math.ceil(cfg.maxBodyBytes * 1.4) + 65_536));
  const connectionWindow = Math.max(streamWindow, Math.min(64 * 1024 * 1024, streamWindow * 16));
  const bound = await bindServer(server, { ...cfg.grpc, what: 'grpc', receiveWindow: { stream: streamWindow, connection: connectionWindow } });
  if (!bound.receiveWindowApplied) logger.warn('HTTP/2 receive windows left at 64 KiB (grpc-js internals changed): large bodies will be slow');
  const sweep = setInterval(() => sessions.sweep(), 30_000);
  sweep.unref();
  let http: ReturnType<typeof createHttpService> | undefined;
  let httpPort: number | undefined;
  if (cfg.http.enabled) {
    http = createHttpService({ logger, metrics: m.registry, endpoint: cfg.http, what: 'http' });
    httpPort = await listenHttp(http, cfg.http, undefined, 'http');
  }
  logger.info({ grpc: bound.address, httpPort, compat: cfg.compat, plain: cfg.plain, kids: identity.jwks().keys.map((k) => k.kid) }, 'ext-proc listening');
  return {
    port: bound.port,
    address: bound.address,
    httpPort,
    identity,
    sessions,
    async close() {
      clearInterval(sweep);
      await Promise.all([bound.close(), http?.close()]);
    },
  };
}
