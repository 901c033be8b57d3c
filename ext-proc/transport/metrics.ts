// ext-proc's Prometheus metrics.
import type { Counter } from 'prom-client';
import type { Metrics } from '../../foundation/metrics.ts';

export interface ExtProcMetrics {
  /** One envelope decrypted with key algorithm `alg`. */
  decrypted(alg: string): void;
  /** One request rejected with error code `code`. */
  rejected(code: string): void;
}

/**
 * A counter with one label, counted through its children: prom-client looks a
 * labelled child up by its serialised labels on every inc(), a cost on every
 * side-stream message, so each child is made on first use and kept (/metrics
 * shows exactly the label values seen).
 */
function byLabel(counter: Counter<string>, label: string): (value: string) => void {
  const children = new Map<string, { inc(): void }>();
  return (value) => {
    let c = children.get(value);
    if (!c) children.set(value, (c = counter.labels({ [label]: value })));
    c.inc();
  };
}

export function createExtProcMetrics(m: Metrics): ExtProcMetrics {
  return {
    decrypted: byLabel(m.counter('decrypts_total', 'Envelopes decrypted, by key algorithm', ['alg']), 'alg'),
    rejected: byLabel(m.counter('errors_total', 'Requests rejected, by error code', ['code']), 'code'),
  };
}
