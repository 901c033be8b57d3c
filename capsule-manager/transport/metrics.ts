// Prometheus metrics of the capsule manager (aenv_capsule_manager_*), served at
// /metrics on its HTTP server. Labels are bounded: rpc names and error codes
// come from closed tables, never from request content.
import { X509Certificate } from 'node:crypto';
import { Counter, Gauge } from 'prom-client';
import { createMetrics } from '../../foundation/metrics.ts';
import type { Registry } from 'prom-client';
import type { ServiceObserver } from '../core/observer.ts';
import type { AuditStreamHooks } from '../storage/audit-stream.ts';
import type { NatsReadCacheStats } from '../storage/nats-read-cache.ts';

export const CM_METRICS_PREFIX = 'aenv_capsule_manager_';

// RSA-2048 dominates (ms); a policy or store stall shows up in the tail buckets.
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface CmMetrics {
  registry: Registry;
  observer: ServiceObserver;
  /** Hooks of the replicated audit stream. */
  auditStream: AuditStreamHooks;
}

export function createCmMetrics(opts: { certPem: string; now?: () => Date; defaultMetrics?: boolean; storeMirror?: () => NatsReadCacheStats | undefined }): CmMetrics {
  const m = createMetrics('capsule_manager', { defaultMetrics: opts.defaultMetrics ?? true });
  const requests = m.counter('requests_total', 'Requests by RPC and outcome ("ok" or the error code)', ['rpc', 'outcome']);
  const duration = m.histogram('request_duration_seconds', 'Request duration by RPC (envelope, attestation, policy, store, audit fsync)', ['rpc'], DURATION_BUCKETS);
  const releases = m.counter('key_releases_total', 'Allowed key releases (requests) by RPC', ['rpc']);
  const keys = m.counter('keys_released_total', 'Data keys released by RPC', ['rpc']);
  const denials = m.counter('denials_total', 'Requests refused for lack of permission, by RPC', ['rpc']);
  const tls = m.counter('tls_assets_issued_total', 'Group TLS assets issued by GetTlsAsset, by kind (leaf = the app key certified, shared = Trustflow shared asset)', ['kind']);
  const failures = m.counter('verification_failures_total', 'Envelope and attestation failures by error code', ['code']);
  const auditPublish = m.counter('audit_stream_publish_failures_total', 'Audit records not published to the replicated audit stream (each is in the local audit log)', []);
  const auditClash = new Gauge({
    name: `${CM_METRICS_PREFIX}audit_replica_name_clash`,
    help: '1 once another process published audit records under this replica name (set audit.replica on each CM)',
    registers: [m.registry],
  });
  auditClash.set(0);
  const notAfter = Date.parse(new X509Certificate(opts.certPem).validTo);
  const now = opts.now ?? (() => new Date());
  // Computed at scrape time so it counts down without a timer.
  new Gauge({
    name: `${CM_METRICS_PREFIX}ra_cert_expiry_seconds`,
    help: "Seconds until the capsule manager's own RA certificate expires (notAfter); negative once expired",
    registers: [m.registry],
    collect() {
      this.set(Math.round((notAfter - now().getTime()) / 1000));
    },
  });
  const mirror = opts.storeMirror;
  if (mirror) {
    // The NATS store's read mirror (nats-read-cache.ts), read at scrape time.
    new Gauge({
      name: `${CM_METRICS_PREFIX}store_mirror_current`,
      help: "1 while the NATS store's read mirror serves reads (behind its read barrier), 0 while it is behind and reads go to the KV",
      registers: [m.registry],
      collect() {
        this.set(mirror()?.state === 'current' ? 1 : 0);
      },
    });
    new Gauge({
      name: `${CM_METRICS_PREFIX}store_mirror_entries`,
      help: "Keys held by the NATS store's read mirror",
      registers: [m.registry],
      collect() {
        this.set(mirror()?.entries ?? 0);
      },
    });
    new Counter({
      name: `${CM_METRICS_PREFIX}store_mirror_reads_total`,
      help: 'Store reads of held keys, by where they were served: mirror (after a read barrier) or kv (the mirror was behind)',
      labelNames: ['served'],
      registers: [m.registry],
      collect() {
        const st = mirror();
        this.reset();
        this.inc({ served: 'mirror' }, st?.hits ?? 0);
        this.inc({ served: 'kv' }, st?.bypassed ?? 0);
      },
    });
    new Counter({
      name: `${CM_METRICS_PREFIX}store_read_barriers_total`,
      help: 'STREAM.INFO read barriers sent (each shared by the reads that began before it)',
      registers: [m.registry],
      collect() {
        this.reset();
        this.inc(mirror()?.barriers ?? 0);
      },
    });
  }
  return {
    registry: m.registry,
    auditStream: { publishFailed: () => auditPublish.inc(), replicaClash: () => auditClash.set(1) },
    observer: {
      request(rpc, outcome, seconds) {
        requests.inc({ rpc, outcome });
        duration.observe({ rpc }, seconds);
      },
      keysReleased(rpc, count) {
        releases.inc({ rpc });
        keys.inc({ rpc }, count);
      },
      denied(rpc) {
        denials.inc({ rpc });
      },
      tlsAssetIssued(kind) {
        tls.inc({ kind });
      },
      verificationFailed(code) {
        failures.inc({ code });
      },
    },
  };
}
