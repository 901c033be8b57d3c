// Programmatic start of ext-authz (used by main.ts, tests and the interact
// example): gRPC Authorization service + admin HTTP API.
import * as grpc from '@grpc/grpc-js';
import { addReflection, bindServer } from '../kernel/grpc-server.ts';
import { createHttpService, listenHttp } from '../kernel/http-server.ts';
import { silentLogger, type Logger } from '../kernel/logger.ts';
import { validateConfig } from '../kernel/config.ts';
import { Authorizer } from './authorizer.ts';
import { ExtAuthzConfigSchema, type ExtAuthzConfig } from './config.ts';
import { createExtAuthzMetrics } from './ext-authz-metrics.ts';
import { registerAdminApi } from './admin-api.ts';
import { addAuthorizationService } from './grpc-service.ts';
import { createJwtVerifier, type JwtSettings } from './jwt-verifier.ts';
import { RevocationList } from './revocation-list.ts';

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
  const bound = await bindServer(server, { host: cfg.grpc.host, port: cfg.grpc.port });

  const app = createHttpService({ logger: log, metrics: m.metrics.registry });
  registerAdminApi(app, authorizer, () => log.info({ version: authorizer.revocations.version }, 'revocation list changed'));
  let httpPort: number;
  try {
    httpPort = await listenHttp(app, cfg.http.port, cfg.http.host);
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
