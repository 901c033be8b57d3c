// Wires config, logger, metrics, the stores, the capsule manager port and both
// transports. The only place in data-capsule-proxy/ that starts servers.
import * as grpc from '@grpc/grpc-js';
import { connectAppToCm } from '../capsule-manager/index.ts';
import { createCmClientPort } from './transport/cm-client-port.ts';
import { validateConfig } from '../foundation/config.ts';
import { addReflection, bindServer, type BoundServer } from '../net/grpc-server.ts';
import { createHttpService, listenHttp } from '../net/http-server.ts';
import { createLogger, type Logger } from '../foundation/logger.ts';
import { createMetrics } from '../foundation/metrics.ts';
import type { S3Config } from '../proto/gen/secretflowapis/v2/sdc/data_capsule_proxy/data_capsule_proxy.ts';
import type { CapsuleManagerPort } from './core/cm-port.ts';
import { DcpConfigSchema, type DcpConfig } from './config.ts';
import { DcpError } from './errors.ts';
import { addDcpGrpc, DCP_SERVICE_NAME } from './transport/grpc.ts';
import { registerDcpRoutes } from './transport/http.ts';
import { LocalFsStore } from './storage/local-fs-store.ts';
import { S3Store } from './storage/s3-store.ts';
import { DataCapsuleProxyCore } from './core/service.ts';
import { encNativeStatus } from './core/enc-native.ts';

export interface DcpHandle {
  httpPort: number;
  grpcPort?: number;
  core: DataCapsuleProxyCore;
  close(): Promise<void>;
}

export interface DcpDeps {
  logger?: Logger;
  /** The capsule manager port (e.g. createCmClientPort(...)); without it CM-backed requests fail closed. */
  cm?: CapsuleManagerPort;
}

export function createS3Opener(cfg: DcpConfig['s3']): (s3: S3Config) => S3Store {
  return (s3) => {
    if (cfg.allowedEndpoints.length > 0 && !cfg.allowedEndpoints.includes(s3.endpoint)) {
      throw new DcpError('PATH_NOT_ALLOWED', `s3 endpoint ${s3.endpoint} is not in this proxy's allowed endpoints`);
    }
    return new S3Store({
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.accessKeySecret,
      sessionToken: s3.stsToken,
      region: cfg.region,
      multipartThresholdBytes: cfg.multipartThresholdMiB * 1024 * 1024,
      partSizeBytes: cfg.partSizeMiB * 1024 * 1024,
    });
  };
}

/** Builds the attested CM client port from config (the app's key, its TEE, the CM's expected report). */
export async function cmPortFromConfig(cm: NonNullable<DcpConfig['capsuleManager']>): Promise<{ port: CapsuleManagerPort; close(): void }> {
  const { client, attester } = await connectAppToCm(cm);
  const port = createCmClientPort({ client, attester, initiatorPartyId: cm.initiatorPartyId, resultOwnerId: cm.resultOwnerId, endpoints: [cm.address] });
  return { port, close: () => client.close() };
}

export async function startDataCapsuleProxy(input: Partial<DcpConfig> | unknown, deps: DcpDeps = {}): Promise<DcpHandle> {
  const cfg = validateConfig(DcpConfigSchema, input, 'data-capsule-proxy config');
  const log = deps.logger ?? createLogger('data-capsule-proxy', { level: cfg.logLevel });
  const metrics = createMetrics('data_capsule_proxy');
  const files = metrics.counter('files_total', 'files decrypted or encrypted', ['op']);
  const bytes = metrics.counter('bytes_total', 'plaintext bytes decrypted or encrypted', ['op']);
  const fromConfig = !deps.cm && cfg.capsuleManager ? await cmPortFromConfig(cfg.capsuleManager) : undefined;
  const cm = deps.cm ?? fromConfig?.port;
  const core = new DataCapsuleProxyCore({
    local: new LocalFsStore(cfg.localRoots),
    openS3: createS3Opener(cfg.s3),
    cm,
    logger: log,
    onFile(op, n) {
      files.inc({ op });
      bytes.inc({ op }, n);
    },
  });
  if (!cm) log.warn('no capsule manager configured: only requests with data_key_b64 and without cm_result_config can succeed');
  const app = createHttpService({ logger: log, metrics: metrics.registry, endpoint: cfg.http, what: 'http' });
  registerDcpRoutes(app, core);
  const httpPort = await listenHttp(app, cfg.http, undefined, 'http');
  let bound: BoundServer | undefined;
  if (cfg.grpc.enabled) {
    const server = new grpc.Server();
    addDcpGrpc(server, core, log);
    addReflection(server, [DCP_SERVICE_NAME]);
    try {
      bound = await bindServer(server, { ...cfg.grpc, what: 'grpc' });
    } catch (e) {
      await app.close();
      fromConfig?.close();
      throw e;
    }
  }
  log.info({ httpPort, grpcPort: bound?.port, encBlocks: encNativeStatus }, 'data-capsule-proxy listening');
  return {
    httpPort,
    grpcPort: bound?.port,
    core,
    async close() {
      await Promise.all([app.close(), bound?.close()]);
      fromConfig?.close();
    },
  };
}
