// startControlPlane: the one call that wires config, logger, core, xDS gRPC
// server, HTTP API and (optionally) NATS replication, and returns the ports.
import type { Logger } from 'pino';
import { ControlPlaneError } from './errors.ts';
import { validateConfig } from '../foundation/config.ts';
import { createLogger } from '../foundation/logger.ts';
import { createMetrics } from '../foundation/metrics.ts';
import { readSecretFile } from '../foundation/secret-file.ts';
import { bindServer } from '../net/grpc-server.ts';
import { localOnly } from '../net/admin-guard.ts';
import { listenKind } from '../net/listen.ts';
import { createHttpService, listenHttp } from '../net/http-server.ts';
import { ControlPlaneConfig } from './config.ts';
import { ControlPlaneCore } from './core/control-plane.ts';
import { byNodeCluster, byNodeId, type SnapshotCache } from './core/xds/cache.ts';
import { createXdsGrpcServer } from './transport/xds-grpc.ts';
import { registerControlPlaneApi } from './transport/http-api.ts';
import { NatsRoutingSync } from './transport/nats-routing.ts';
import { LocalRoutingSync, type RoutingSync } from './core/routing-sync.ts';
import { wireXdsMetrics } from './transport/metrics.ts';
import { CmDecisionsPoller } from './transport/cm-decisions-poller.ts';
import { ServiceHealthPoller } from './transport/service-health-poller.ts';
import { GroupSdsProvider } from './transport/group-sds-provider.ts';
import { connectAppToCm } from '../capsule-manager/index.ts';
import { statusDocument, type StatusDocument, type StatusSources } from './core/status-view.ts';
import type { SecretInput, SecretInfo } from './core/secret-store.ts';
import type { RoutingChange } from './core/routing.ts';
import type { RoutingState } from './core/app-config.ts';

export interface ControlPlaneHandle {
  /** The xDS TCP port (0 when it listens on a Unix socket). */
  xdsPort: number;
  /** The xDS Unix socket path, when it listens on one. */
  xdsSocket?: string;
  apiPort: number;
  /** host of the xDS server (for generateBootstrap's xdsAddress). */
  address: string;
  /** Where an Envoy bootstrap points (spread into generateBootstrap): the socket, or host and port. */
  xdsTarget: { xdsSocket: string } | { xdsAddress: string; xdsPort: number };
  apiUrl: string;
  /**
   * Validates, translates and publishes an app config; throws (and changes
   * nothing) if it is invalid. With `nodeKey` it applies to that node key only
   * (node id, or node cluster when `nodeKey: cluster`); `cfg` undefined removes it.
   */
  setAppConfig(cfg: unknown, opts?: { nodeKey?: string }): { snapshot: string };
  secrets: {
    set(name: string, secret: SecretInput): { snapshot: string };
    delete(name: string): { snapshot: string };
    list(): SecretInfo[];
  };
  routing: {
    apply(change: RoutingChange): Promise<RoutingState & { revision: number }>;
    get(): RoutingState & { revision: number };
  };
  status(): StatusDocument;
  /** Lower-level access (tests, benchmarks). */
  core: ControlPlaneCore;
  cache: SnapshotCache;
  close(): Promise<void>;
}

function readToken(path: string, field = 'api.tokenFile'): string {
  return readSecretFile(path, field, (_, message, cause) => new ControlPlaneError('INSECURE_CONFIG', message, { cause }), 16);
}

/** The control plane's side of communication groups, from its config (docs/groups.md). */
async function startGroups(cfg: NonNullable<ControlPlaneConfig['groups']>, core: ControlPlaneCore, logger: Logger): Promise<{ provider: GroupSdsProvider; close(): void }> {
  const link = await connectAppToCm(cfg.capsuleManager);
  const provider = new GroupSdsProvider({
    partyId: link.partyId,
    source: link.client,
    attester: link.attester,
    secrets: { set: (name, secret) => core.setSecret(name, secret) },
    groups: cfg.bindings,
    renewal: { fraction: cfg.renewAtFraction },
    onRotated: (e) => logger.info({ group: e.name, notAfter: e.notAfter.toISOString(), serial: e.serial }, 'group leaf served'),
    onDenied: (e) => logger.warn({ group: e.name, reason: e.reason }, 'the capsule manager refused the group leaf; retrying'),
    onError: (e) => logger.warn({ group: e.name, err: e.error.message }, 'group leaf fetch failed; retrying'),
  });
  provider.start().catch(() => undefined);
  return {
    provider,
    close() {
      provider.stop();
      link.close();
    },
  };
}

export async function startControlPlane(input: unknown, opts: { logger?: Logger } = {}): Promise<ControlPlaneHandle> {
  const config = validateConfig(ControlPlaneConfig, input ?? {}, 'control-plane config');
  const logger = opts.logger ?? createLogger('control-plane', { ...(config.logLevel ? { level: config.logLevel } : {}) });
  const apiHost = config.api?.host ?? '127.0.0.1';
  // Fail closed, before anything listens: an API beyond loopback needs a credential.
  if (!localOnly(config.api ?? {}) && !config.api?.tokenFile && !config.api?.tls) throw new ControlPlaneError('INSECURE_CONFIG', `api.host ${apiHost} is not loopback: set api.tokenFile or api.tls`);
  const token = config.api?.tokenFile ? readToken(config.api.tokenFile) : undefined;
  // Created (token read) before anything listens, so a bad tokenFile leaks nothing; started once the API is up.
  const cm = config.capsuleManager
    ? new CmDecisionsPoller(
        {
          decisionsUrl: config.capsuleManager.decisionsUrl,
          pollSeconds: config.capsuleManager.pollSeconds ?? 5,
          limit: config.capsuleManager.limit ?? 20,
          ...(config.capsuleManager.tokenFile ? { token: readToken(config.capsuleManager.tokenFile, 'capsuleManager.tokenFile') } : {}),
        },
        logger.child({ svc: 'cm-decisions' }),
      )
    : undefined;
  const health = config.services ? new ServiceHealthPoller({ pollSeconds: config.services.pollSeconds ?? 2, targets: config.services.targets }, logger.child({ svc: 'service-health' })) : undefined;
  const sources: StatusSources = { ...(cm ? { cmDecisions: () => cm.view() } : {}), ...(health ? { services: () => health.board.view() } : {}) };
  const core = new ControlPlaneCore(logger, config.nodeKey === 'cluster' ? byNodeCluster : byNodeId);
  if (config.app !== undefined) core.setAppConfig(config.app);

  const metrics = createMetrics('control_plane');
  const unwire = wireXdsMetrics(metrics, core.status);
  const sync: RoutingSync = config.nats
    ? await NatsRoutingSync.start(core, config.nats, logger) // schema defaults applied
    : new LocalRoutingSync(core);

  const grpcServer = createXdsGrpcServer({
    cache: core.cache,
    status: core.status,
    logger: logger.child({ svc: 'xds' }),
    controlPlaneId: config.id,
    listen: listenKind(config.xds ?? {}, 'xds'),
    secretsOverLoopbackTcp: config.xds?.secretsOverLoopbackTcp === true,
  });
  const xdsHost = config.xds?.host ?? '127.0.0.1';
  // xDS carries secrets: a Unix socket, mutual TLS, or loopback TCP (never plaintext beyond).
  const bound = await bindServer(grpcServer, { ...config.xds, what: 'xds' });

  const http = createHttpService({ logger: logger.child({ svc: 'api' }), metrics: metrics.registry, endpoint: config.api ?? {}, what: 'api' });
  await registerControlPlaneApi(http, { id: config.id, core, sync, ...(token ? { token } : {}), sources, endpoint: config.api ?? {} });
  const apiPort = await listenHttp(http, config.api ?? {}, undefined, 'api', token ? 'a bearer token (api.tokenFile)' : undefined);
  cm?.start();
  health?.start();
  // Communication groups from config: the first fetch runs in the background
  // (a CM that does not grant yet is retried with a backoff, never fatal).
  const groups = config.groups ? await startGroups(config.groups, core, logger.child({ svc: 'groups' })) : undefined;
  if (groups) sources.groups = () => groups.provider.status();
  logger.info({ xdsPort: bound.port, apiPort }, 'control plane listening');

  let closed = false;
  const label = (s: { label: string }) => ({ snapshot: s.label });
  return {
    xdsPort: bound.port,
    ...(config.xds?.socket ? { xdsSocket: config.xds.socket } : {}),
    apiPort,
    address: xdsHost,
    xdsTarget: config.xds?.socket ? { xdsSocket: config.xds.socket } : { xdsAddress: xdsHost, xdsPort: bound.port },
    apiUrl: `${config.api?.tls ? 'https' : 'http'}://${apiHost}:${apiPort}`,
    setAppConfig: (cfg, o) => label(o?.nodeKey !== undefined ? core.setNodeAppConfig(o.nodeKey, cfg) : core.setAppConfig(cfg)),
    secrets: {
      set: (name, secret) => label(core.setSecret(name, secret)),
      delete: (name) => label(core.deleteSecret(name)),
      list: () => core.secrets.list(),
    },
    routing: { apply: (c) => sync.propose(c), get: () => core.routing },
    status: () => statusDocument(config.id, core, sync, sources),
    core,
    cache: core.cache,
    async close() {
      if (closed) return;
      closed = true;
      unwire();
      cm?.stop();
      health?.stop();
      groups?.close();
      await Promise.all([bound.close(), http.close(), sync.close()]);
    },
  };
}
