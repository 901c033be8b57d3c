// ext-authz metrics: decisions by result and code, cache hits, check latency.
import { createMetrics, type Metrics } from '../../foundation/metrics.ts';

export interface ExtAuthzMetrics {
  metrics: Metrics;
  decisions: ReturnType<Metrics['counter']>;
  cacheHits: ReturnType<Metrics['counter']>;
  checkSeconds: ReturnType<Metrics['histogram']>;
  revocationVersion: ReturnType<Metrics['gauge']>;
}

export function createExtAuthzMetrics(): ExtAuthzMetrics {
  const metrics = createMetrics('ext_authz', { defaultMetrics: false });
  return {
    metrics,
    decisions: metrics.counter('decisions_total', 'Authorization decisions by result (allow|deny) and code', ['result', 'code']),
    cacheHits: metrics.counter('cache_hits_total', 'Decisions served from the decision cache'),
    checkSeconds: metrics.histogram('check_seconds', 'Time to decide a Check request', [], [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5]),
    revocationVersion: metrics.gauge('revocation_version', 'Version of the revocation list'),
  };
}
