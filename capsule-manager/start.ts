// startCapsuleManager (interface 5): one call that opens the store, derives the
// KEK, loads the CM identity and attester, and serves gRPC + HTTP. Used by
// main.ts, by other components' tests and by the benchmark.
import { createPublicKey } from 'node:crypto';
import type { Registry } from 'prom-client';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, validateConfig } from '../foundation/config.ts';
import { readSecretFile } from '../foundation/secret-file.ts';
import { createLogger, type Logger } from '../foundation/logger.ts';
import { createEphemeralAppIdentity, loadOrCreateAppIdentity } from '../platforms/index.ts';
import { createAttester, createCollateralDirProvider, createEvidenceVerifier } from '../platforms/index.ts';
import type { AppraisalPolicy, Attester } from '../platforms/index.ts';
import { memoryAuditLog, openAuditLog, type AuditLog, type AuditRecord } from './storage/audit-log.ts';
import { AuditStream, replicaToken } from './storage/audit-stream.ts';
import { RECENT_DECISIONS_CAPACITY, RecentDecisions } from './core/recent-decisions.ts';
import { createCmMetrics } from './transport/metrics.ts';
import { CapsuleManagerConfigSchema, type CapsuleManagerConfig } from './config.ts';
import { partyIdOfKey } from './core/party-id.ts';
import { CmError } from './errors.ts';
import { CapsuleManagerService } from './core/capsule-manager-service.ts';
import { Repository, UNCACHED_KEY_PREFIXES } from './core/repository.ts';
import { ReleaseSessionTable } from './core/session/table.ts';
import { FileStore } from './storage/file-store.ts';
import { openKek, type KekSecret } from './core/kek.ts';
import { NatsStore } from './storage/nats-store.ts';
import type { Store } from './core/store.ts';
import { startGrpc } from './transport/grpc.ts';
import { buildHttpApi } from './transport/http.ts';
import { listenHttp } from '../net/http-server.ts';
import { shutdownSignal } from '../foundation/shutdown-signal.ts';

export interface RunningCapsuleManager {
  grpcPort: number;
  /** 0 when the HTTP API is disabled. */
  httpPort: number;
  grpcAddress: string;
  certPem: string;
  partyId: string;
  /** The sim public key of the CM's own attester (clients pass it as trustedSimKeys). */
  simPublicKeyPem?: string;
  service: CapsuleManagerService;
  store: Store;
  audit: AuditLog;
  /** The last allow/deny decisions (served at GET /api/v1/audit/recent). */
  recent: RecentDecisions;
  /** Prometheus registry (served at /metrics). */
  metrics: Registry;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function readAuditToken(path: string): string {
  return readSecretFile(path, 'http.auditTokenFile', (_, message, cause) => new CmError('INSECURE_CONFIG', message, { cause }), 16);
}

function kekSecretOf(cfg: CapsuleManagerConfig): KekSecret {
  if (cfg.kek.sealingKeyFile) {
    if (cfg.kek.passphrase || cfg.kek.passphraseFile) throw new CmError('INVALID_REQUEST', 'kek.sealingKeyFile excludes kek.passphrase and kek.passphraseFile');
    try {
      return { sealingKey: readFileSync(cfg.kek.sealingKeyFile) };
    } catch (cause) {
      throw new CmError('INVALID_REQUEST', `kek.sealingKeyFile ${cfg.kek.sealingKeyFile} cannot be read (is this the TEE the file belongs to?)`, { cause });
    }
  }
  if (cfg.kek.passphrase) return cfg.kek.passphrase;
  if (cfg.kek.passphraseFile) return readFileSync(cfg.kek.passphraseFile, 'utf8').replace(/\r?\n$/, '');
  const env = process.env[cfg.kek.passphraseEnv];
  if (env) return env;
  throw new CmError('INVALID_REQUEST', `no KEK passphrase: set ${cfg.kek.passphraseEnv}, kek.passphraseFile or kek.passphrase`);
}

async function openStore(cfg: CapsuleManagerConfig, log: Logger): Promise<Store> {
  if (cfg.storage.kind === 'nats') {
    if (!cfg.storage.nats) throw new CmError('INVALID_REQUEST', 'storage.nats is required for kind "nats"');
    const onState = (state: 'current' | 'behind', why: string): void => {
      if (state === 'behind') log.warn({ why }, 'NATS read mirror is behind: reads go to the KV until it catches up');
      else log.info({ why }, 'NATS read mirror is current again');
    };
    return NatsStore.open({ ...cfg.storage.nats, readCacheOptions: { uncachedPrefixes: UNCACHED_KEY_PREFIXES, onState } });
  }
  if (!cfg.storage.dir) throw new CmError('INVALID_REQUEST', 'storage.dir is required for kind "file"');
  return FileStore.open({ dir: cfg.storage.dir, compactEvery: cfg.storage.compactEvery });
}

export async function startCapsuleManager(config: unknown, deps: { logger?: Logger } = {}): Promise<RunningCapsuleManager> {
  const cfg = validateConfig(CapsuleManagerConfigSchema, config, 'capsule manager config');
  const log = deps.logger ?? createLogger('capsule-manager', { level: cfg.logLevel });
  // Fail closed before opening anything: the decisions endpoint must not be
  // readable from the network without the operator's token.
  if (cfg.http.enabled && !LOOPBACK.has(cfg.http.host) && !cfg.http.auditTokenFile) {
    throw new CmError('INSECURE_CONFIG', `http.host ${cfg.http.host} is not loopback: set http.auditTokenFile (the token for GET /api/v1/audit/recent)`);
  }
  const auditToken = cfg.http.auditTokenFile ? readAuditToken(cfg.http.auditTokenFile) : undefined;
  const kekSecret = kekSecretOf(cfg);
  const store = await openStore(cfg, log);
  const cleanup: Array<() => Promise<void> | void> = [() => store.close()];
  try {
    const kek = await openKek(store, kekSecret, { cost: cfg.kek.scryptCost }).finally(() => {
      if (typeof kekSecret !== 'string') kekSecret.sealingKey.fill(0); // the derived KEK is all that stays
    });
    const identity = cfg.identityDir ? await loadOrCreateAppIdentity(cfg.identityDir, 'aenv-capsule-manager') : await createEphemeralAppIdentity('aenv-capsule-manager');
    const rsa = identity.keys.rsa;
    let attester: (Attester & { simPublicKeyPem?: string }) | undefined;
    if (cfg.attestation.self !== 'none') {
      // 'auto' never falls back to sim: a CM on a machine without a TEE must say so.
      attester = await createAttester(cfg.attestation.self, {
        allowSim: false,
        simKeyDir: cfg.attestation.simKeyDir ?? (cfg.identityDir ? join(cfg.identityDir, 'sim') : undefined),
        simMeasurements: cfg.attestation.simMeasurements,
      });
    }
    const verifier = createEvidenceVerifier({
      trustedSimKeys: cfg.attestation.trustedSimKeys,
      platforms: cfg.attestation.platforms,
      // Intel TCB collateral on disk (aenv collateral fetch): TDX/SGX TCB status from it.
      ...(cfg.attestation.collateralDir ? { collateral: createCollateralDirProvider(cfg.attestation.collateralDir) } : {}),
    });
    const appraisal: AppraisalPolicy = {
      allowInsecure: cfg.attestation.allowInsecure,
      allowDebug: cfg.attestation.allowDebug,
      allowUnknownTcb: cfg.attestation.allowUnknownTcb,
      ...(cfg.attestation.platforms ? { platforms: cfg.attestation.platforms } : {}),
      ...(cfg.attestation.measurements ? { measurements: cfg.attestation.measurements } : {}),
    };
    const mirror = store instanceof NatsStore ? store.cache : undefined;
    const metrics = createCmMetrics({ certPem: identity.certPem, ...(mirror ? { storeMirror: () => mirror.stats() } : {}) });
    const recent = new RecentDecisions();
    const replica = cfg.audit.replica ?? replicaToken(hostname());
    const stream =
      store instanceof NatsStore && cfg.audit.stream.enabled
        ? await AuditStream.open(store.nc, { stream: cfg.audit.stream.name, subjectPrefix: cfg.audit.stream.subjectPrefix, replica, replicas: cfg.storage.nats?.replicas ?? 1, maxAgeDays: cfg.audit.stream.maxAgeDays }, log, metrics.auditStream)
        : undefined;
    // Own records go to the ring at once (and to the stream); the other replicas' come from the stream.
    const onRecord = (r: AuditRecord) => {
      recent.add(r, stream ? replica : undefined);
      stream?.publish(r);
    };
    // cleanup runs in reverse: the audit log closes (its last records published) before the stream
    if (stream) cleanup.push(() => stream.close());
    const audit = cfg.audit.path ? openAuditLog(cfg.audit.path, { onRecord, onTornTail: (bytes) => log.warn({ bytes, path: cfg.audit.path }, 'audit log: cut a torn last line (a write interrupted by a crash, never acknowledged)') }) : memoryAuditLog({ onRecord });
    cleanup.push(() => audit.close());
    if (stream) {
      // Before this start: every replica's records, this one's too. Since: the others' only.
      await stream.follow((r, past) => {
        if (past || r.replica !== replica) recent.add(r.record, r.replica);
      }, RECENT_DECISIONS_CAPACITY * 4);
    }
    const partyId = partyIdOfKey(createPublicKey(rsa.privateKey));
    const repo = new Repository(store, kek);
    const sessions = cfg.sessions.enabled ? new ReleaseSessionTable(cfg.sessions) : undefined;
    if (sessions) {
      // Expired sessions are forgotten (keys zeroed) every 30 s; at close every session ends.
      const sweepSessions = setInterval(() => sessions.sweep(), 30_000);
      sweepSessions.unref();
      cleanup.push(() => {
        clearInterval(sweepSessions);
        sessions.clear();
      });
    }
    const service = new CapsuleManagerService({
      repo,
      freshness: cfg.freshness,
      sessions,
      // The certificate names the X25519 and P-256 keys: clients may seal requests with ECDH-ES.
      identity: { privateKey: rsa.privateKey, certPem: identity.certPem, partyId, x25519: identity.keys.x25519.privateKey, p256: identity.keys.p256.privateKey },
      verifier,
      appraisal,
      requireAttestation: cfg.attestation.require,
      attester,
      audit,
      observer: metrics.observer,
    });
    // Expired nonce buckets (older than two windows) are swept once a window.
    const windowMs = cfg.freshness.windowSeconds * 1000;
    const sweep = setInterval(() => void repo.sweepNonces(Math.floor(Date.now() / windowMs) - 1).catch((e: Error) => log.warn({ err: e.message }, 'nonce sweep failed')), windowMs);
    sweep.unref();
    cleanup.push(() => clearInterval(sweep));
    const grpcServer = await startGrpc(service, { ...cfg.grpc, log });
    cleanup.push(() => grpcServer.close());
    let httpPort = 0;
    if (cfg.http.enabled) {
      const app = await buildHttpApi(service, { log, metrics: metrics.registry, recent, endpoint: cfg.http, ...(auditToken ? { auditToken } : {}) });
      httpPort = await listenHttp(app, cfg.http, undefined, 'http', 'signed and encrypted envelopes (operator endpoints: http.auditTokenFile)');
      cleanup.push(() => app.close());
    }
    log.info({ grpcPort: grpcServer.port, httpPort, store: store.kind, partyId, attester: attester?.platform ?? 'none' }, 'capsule manager listening');
    return {
      grpcPort: grpcServer.port,
      httpPort,
      grpcAddress: grpcServer.address,
      certPem: identity.certPem,
      partyId,
      simPublicKeyPem: attester?.simPublicKeyPem,
      service,
      store,
      audit,
      recent,
      metrics: metrics.registry,
      async close() {
        for (const c of cleanup.reverse()) await c();
      },
    };
  } catch (e) {
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => undefined);
    throw e;
  }
}

/** Serves from a config file until SIGINT/SIGTERM (the CLI's serve). */
export async function runCapsuleManager(configPath: string): Promise<number> {
  const cfg = loadConfigFile(CapsuleManagerConfigSchema, configPath);
  const log = createLogger('capsule-manager', { level: cfg.logLevel });
  const cm = await startCapsuleManager(cfg, { logger: log });
  process.stdout.write(`${JSON.stringify({ grpcPort: cm.grpcPort, httpPort: cm.httpPort, partyId: cm.partyId, simPublicKeyPem: cm.simPublicKeyPem })}\n`);
  const shutdown = shutdownSignal({ watchParent: false });
  await shutdown.stopped;
  await cm.close();
  shutdown.dispose();
  return 0;
}
