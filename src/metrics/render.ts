import { AggregatorRegistry, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { VERSION } from '../version.js';
import { MetricName } from './names.js';
import type { MetricSnapshot } from './snapshot.js';

/**
 * What every rabbit-worker process exposes about itself, whatever its role: prom-client's default process
 * metrics (CPU, memory, event loop lag, handles, GC) and `rabbit_worker_build_info{version}`. A worker
 * process under a supervisor does not send these: the supervisor exposes its own.
 */
export class ProcessMetrics {
  readonly registry = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const info = new Gauge({ name: MetricName.buildInfo, help: 'Always 1; the version of rabbit-worker in its label.', labelNames: ['version'], registers: [this.registry] });
    info.labels(VERSION).set(1);
  }

  async snapshot(): Promise<MetricSnapshot[]> {
    return (await this.registry.getMetricsAsJSON()) as unknown as MetricSnapshot[];
  }
}

export { PROMETHEUS_CONTENT_TYPE } from './names.js';

/**
 * The Prometheus text of several groups of metrics (a process's own, every child's, the totals of exited
 * children), series with the same name and labels combined by each metric's aggregator: prom-client's own
 * cluster aggregation.
 */
export async function renderPrometheus(groups: ReadonlyArray<readonly MetricSnapshot[]>): Promise<string> {
  return AggregatorRegistry.aggregate(groups.map((group) => [...group])).metrics();
}
