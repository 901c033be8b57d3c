// ext-proc's Prometheus metrics.
import type { Counter } from 'prom-client';
import type { Metrics } from '../../foundation/metrics.ts';

export interface ExtProcMetrics {
  decrypts: Counter<string>;
  errors: Counter<string>;
}

export function createExtProcMetrics(m: Metrics): ExtProcMetrics {
  return {
    decrypts: m.counter('decrypts_total', 'Envelopes decrypted, by key algorithm', ['alg']),
    errors: m.counter('errors_total', 'Requests rejected, by error code', ['code']),
  };
}
