// Wires config, logger, app identity, session table, metrics and the gRPC + HTTP
// servers of ext-proc. The only place that does so.
import { Gauge } from 'prom-client';
import type { AppIdentity } from '../kernel/app-identity.ts';
import { loadOrCreateAppIdentity } from '../kernel/app-identity.ts';
import { addReflection, bindServer } from '../kernel/grpc-server.ts';
import { createHttpService, listenHttp } from '../kernel/http-server.ts';
import { createLogger, type Logger } from '../kernel/logger.ts';
import { createMetrics } from '../kernel/metrics.ts';
import { parseExtProcConfig, type ExtProcConfig } from './config.ts';
import { contextFromConfig } from './envelope-exchange.ts';
import { createExtProcMetrics } from './metrics.ts';
import { createExtProcServer, EXT_PROC_SERVICE } from './server.ts';
import { SessionTable } from './session-table.ts';

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
  const sessions = new SessionTable({ ttlMs: cfg.session.ttlSeconds * 1000, maxEntries: cfg.session.maxEntries, maxUses: cfg.session.maxUses });
  const m = createMetrics('ext_proc');
  const metrics = createExtProcMetrics(m);
  new Gauge({ name: 'aenv_ext_proc_sessions', help: 'Live envelope sessions', registers: [m.registry], collect() { this.set(sessions.size); } });
  const server = createExtProcServer({ context: contextFromConfig(cfg, identity, sessions), logger, metrics });
  addReflection(server, [EXT_PROC_SERVICE]);
  const bound = await bindServer(server, { host: cfg.grpc.host, port: cfg.grpc.port });
  const sweep = setInterval(() => sessions.sweep(), 30_000);
  sweep.unref();
  let http: ReturnType<typeof createHttpService> | undefined;
  let httpPort: number | undefined;
  if (cfg.http.enabled) {
    http = createHttpService({ logger, metrics: m.registry });
    httpPort = await listenHttp(http, cfg.http.port, cfg.http.host);
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
