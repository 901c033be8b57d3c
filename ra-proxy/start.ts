// Wires config, logger, attester, app identity and both transports. The only
// place in ra-proxy/ that starts servers.
import * as grpc from '@grpc/grpc-js';
import { loadOrCreateAppIdentity, type AppIdentity } from '../platforms/index.ts';
import { validateConfig } from '../foundation/config.ts';
import { addReflection, bindServer, type BoundServer } from '../net/grpc-server.ts';
import { createHttpService, listenHttp } from '../net/http-server.ts';
import { createLogger, type Logger } from '../foundation/logger.ts';
import { createMetrics } from '../foundation/metrics.ts';
import { createAttester } from '../platforms/index.ts';
import type { Attester } from '../platforms/index.ts';
import { RaProxyConfigSchema, type RaProxyConfig } from './config.ts';
import { addRaProxyGrpc, RA_PROXY_SERVICE_NAME } from './transport/grpc.ts';
import { registerRaRoutes } from './transport/http.ts';
import { createNonceGuard } from './core/nonce-guard.ts';
import { createRaService } from './core/service.ts';

export interface RaProxyHandle {
  httpPort: number;
  grpcPort?: number;
  platform: string;
  simPublicKeyPem?: string;
  close(): Promise<void>;
}

export interface RaProxyDeps {
  logger?: Logger;
  /** Use this identity instead of loading identityDir (tests, in-process hosts). */
  identity?: AppIdentity;
  /** Use this attester instead of the configured one. */
  attester?: Attester & { simPublicKeyPem?: string };
}

export async function startRaProxy(input: Partial<RaProxyConfig> | unknown, deps: RaProxyDeps = {}): Promise<RaProxyHandle> {
  const cfg = validateConfig(RaProxyConfigSchema, input, 'ra-proxy config');
  const log = deps.logger ?? createLogger('ra-proxy', { level: cfg.logLevel });
  const identity = deps.identity ?? (await loadOrCreateAppIdentity(cfg.identityDir));
  const attester =
    deps.attester ??
    (await createAttester(cfg.platform, {
      root: cfg.attesterRoot,
      allowSim: cfg.allowSim,
      simKeyDir: cfg.sim.keyDir,
      simMeasurements: cfg.sim.measurements,
      simDebug: cfg.sim.debug,
      ...cfg.attester,
    }));
  if (attester.platform === 'sim') log.warn('ra-proxy uses the sim platform: its evidence has no hardware root of trust');
  const metrics = createMetrics('ra_proxy');
  const nonces = createNonceGuard({ windowMs: cfg.nonce.replayWindowSeconds * 1000, maxEntries: cfg.nonce.maxEntries });
  const liveNonces = metrics.gauge('live_nonces', 'nonces inside the replay window');
  const served = metrics.counter('reports_total', 'reports served', ['kind', 'result']);
  const svc = createRaService({ attester, identity, nonces });
  const counted = <A extends unknown[], R>(kind: string, f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        const r = await f(...a);
        served.inc({ kind, result: 'ok' });
        return r;
      } catch (e) {
        served.inc({ kind, result: 'error' });
        throw e;
      } finally {
        liveNonces.set(nonces.size());
      }
    };
  svc.getRaCert = counted('ra_cert', svc.getRaCert);
  svc.attestationDocument = counted('document', svc.attestationDocument);
  const app = createHttpService({ logger: log, metrics: metrics.registry, endpoint: cfg.http, what: 'http' });
  registerRaRoutes(app, svc, { publishSimKey: cfg.publishSimKey });
  const httpPort = await listenHttp(app, cfg.http, undefined, 'http');
  let bound: BoundServer | undefined;
  if (cfg.grpc.enabled) {
    const server = new grpc.Server();
    addRaProxyGrpc(server, svc, log);
    addReflection(server, [RA_PROXY_SERVICE_NAME]);
    try {
      bound = await bindServer(server, { ...cfg.grpc, what: 'grpc' });
    } catch (e) {
      await app.close();
      throw e;
    }
  }
  log.info({ httpPort, grpcPort: bound?.port, platform: attester.platform }, 'ra-proxy listening');
  return {
    httpPort,
    grpcPort: bound?.port,
    platform: attester.platform,
    simPublicKeyPem: attester.simPublicKeyPem,
    async close() {
      await Promise.all([app.close(), bound?.close()]);
    },
  };
}
