// Programmatic start of ext-authz (used by main.ts, tests and the interact
// example): gRPC Authorization service + admin HTTP API.
import * as grpc from '@grpc/grpc-js';
import { addReflection, bindServer } from '../net/grpc-server.ts';
import { createHttpService, listenHttp } from '../net/http-server.ts';
import { guardAdmin, readAdminToken } from '../net/admin-guard.ts';
import { createLogger, silentLogger, type Logger } from '../foundation/logger.ts';
import { loadConfigFile, validateConfig } from '../foundation/config.ts';
import { Authorizer } from './core/authorizer.ts';
import { ExtAuthzConfigSchema, type ExtAuthzConfig } from './config.ts';
import { createExtAuthzMetrics } from './transport/metrics.ts';
import { registerAdminApi } from './transport/admin-api.ts';
import { addAuthorizationService } from './transport/grpc-service.ts';
import { createJwtVerifier, type JwtSettings } from './transport/jwt-verifier.ts';
import { RevocationList } from './core/revocation-list.ts';

export interface ExtAuthzHandle {
  grpcPort: number;
  httpPort: number;
  authorizer: Authorizer;
  close(): Promise<void>;
}

export async function startExtAuthz(input: unknown, opts: { logger?: Logger; jwks?: JwtSettings['jwks'] } = {}): Promise<ExtAuthzHandle> {
  const cfg: ExtAuthzConfig = validateConfig(ExtAuthzConfigSchema, input, 'ext-authz config');
  const log = opts.logger ?? silentLogger;
  const jwt = cfg.jwt ? createJwtVerifier({ ...cfg.jwt, ...(opts.jwks ? { jwks: opts.jwks } : {}) }) : undefined;
  const authorizer = new Authorizer({
    rules: cfg.policy.rules,
    groups: cfg.groups,
    revocations: new RevocationList(cfg.revoked),
    ...(jwt ? { jwt } : {}),
    cache: cfg.cache,
  });
  const m = createExtAuthzMetrics();
  m.revocationVersion.set(authorizer.revocations.version);
  authorizer.revocations.onChange(() => m.revocationVersion.set(authorizer.revocations.version));

  const server = new grpc.Server();
  addAuthorizationService(server, authorizer, m, log);
  addReflection(server, ['envoy.service.auth.v3.Authorization']);
  // Read before anything listens: a bad token file starts nothing.
  const token = cfg.http.tokenFile ? readAdminToken(cfg.http.tokenFile, 'http.tokenFile') : undefined;
  const bound = await bindServer(server, { ...cfg.grpc, what: 'grpc' });

  const app = createHttpService({ logger: log, metrics: m.metrics.registry, endpoint: cfg.http, what: 'http' });
  guardAdmin(app, { token, endpoint: cfg.http, tokenField: 'http.tokenFile', open: ['/metrics'] });
  registerAdminApi(app, authorizer, () => log.info({ version: authorizer.revocations.version }, 'revocation list changed'));
  let httpPort: number;
  try {
    httpPort = await listenHttp(app, cfg.http, undefined, 'http', token ? 'a bearer token (http.tokenFile)' : undefined);
  } catch (e) {
    await bound.close();
    throw e;
  }
  log.info({ grpcPort: bound.port, httpPort, groups: authorizer.groups().length, rules: cfg.policy.rules.length }, 'ext-authz listening');
  return {
    grpcPort: bound.port,
    httpPort,
    authorizer,
    close: async () => {
      await Promise.all([bound.close(), app.close()]);
    },
  };
}

/** Serves from a config file until SIGINT/SIGTERM (the CLI's serve). */
export async function runExtAuthz(configPath: string): Promise<void> {
  const cfg = loadConfigFile(ExtAuthzConfigSchema, configPath);
  const log = createLogger('ext-authz', { level: cfg.logLevel });
  const h = await startExtAuthz(cfg, { logger: log });
  process.stdout.write(`${JSON.stringify({ grpcPort: h.grpcPort, httpPort: h.httpPort })}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await h.close();
}
