// Prometheus metrics: one registry per service process, default process metrics
// included, every metric prefixed with the component name.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  counter(name: string, help: string, labelNames?: string[]): Counter<string>;
  gauge(name: string, help: string, labelNames?: string[]): Gauge<string>;
  histogram(name: string, help: string, labelNames?: string[], buckets?: number[]): Histogram<string>;
}

export function createMetrics(component: string, opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  const prefix = `aenv_${component.replace(/[^a-zA-Z0-9_]/g, '_')}_`;
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix });
  return {
    registry,
    counter: (name, help, labelNames = []) => new Counter({ name: prefix + name, help, labelNames, registers: [registry] }),
    gauge: (name, help, labelNames = []) => new Gauge({ name: prefix + name, help, labelNames, registers: [registry] }),
    histogram: (name, help, labelNames = [], buckets) =>
      new Histogram({ name: prefix + name, help, labelNames, registers: [registry], ...(buckets ? { buckets } : {}) }),
  };
}
