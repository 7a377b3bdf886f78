/**
 * Metrics as plain JSON, in the shape of prom-client's `registry.getMetricsAsJSON()`: what a worker process
 * sends to its supervisor over IPC, what the supervisor keeps of exited processes, and what
 * `AggregatorRegistry.aggregate()` turns back into Prometheus text (see render.ts).
 */

/** Label values of one series. */
export type Labels = Record<string, string | number>;

/** One series of a metric; histograms name theirs (`<name>_bucket` with `le`, `<name>_sum`, `<name>_count`). */
export interface SeriesValue {
  value: number;
  labels: Labels;
  metricName?: string;
}

/**
 * How values of the same series from several processes combine: `sum` for counters, histograms and most
 * gauges; `min` for "every process is connected"; `max`; `omit` drops the metric when aggregating.
 */
export type Aggregator = 'sum' | 'min' | 'max' | 'first' | 'omit';

/** One metric with its series. */
export interface MetricSnapshot {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  aggregator: Aggregator;
  values: SeriesValue[];
}

/** True for a well-formed snapshot (what arrives over IPC is checked before it is kept). */
export function isMetricSnapshot(value: unknown): value is MetricSnapshot {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Partial<MetricSnapshot>;
  return (
    typeof m.name === 'string' &&
    typeof m.help === 'string' &&
    (m.type === 'counter' || m.type === 'gauge' || m.type === 'histogram') &&
    Array.isArray(m.values) &&
    m.values.every((v) => typeof v === 'object' && v !== null && typeof (v as SeriesValue).value === 'number' && typeof (v as SeriesValue).labels === 'object')
  );
}

/** A counter or gauge with one series per entry of `series`. */
export function simpleMetric(name: string, help: string, type: 'counter' | 'gauge', series: Array<[Labels, number]>, aggregator: Aggregator = 'sum'): MetricSnapshot {
  return { name, help, type, aggregator, values: series.map(([labels, value]) => ({ value, labels })) };
}

const seriesKey = (value: SeriesValue): string =>
  `${value.metricName ?? ''}\u0000${Object.keys(value.labels)
    .sort()
    .map((k) => `${k}=${String(value.labels[k])}`)
    .join('\u0000')}`;

/**
 * The sum of `a` and `b`, series by series, keeping only counters and histograms: what a process that
 * exited leaves behind, so that totals never go backwards when processes come and go. Gauges of a process
 * that is gone mean nothing and are dropped.
 */
export function addTotals(a: readonly MetricSnapshot[], b: readonly MetricSnapshot[]): MetricSnapshot[] {
  const out = new Map<string, { metric: MetricSnapshot; series: Map<string, SeriesValue> }>();
  for (const metric of [...a, ...b]) {
    if (metric.type === 'gauge') continue;
    let entry = out.get(metric.name);
    if (entry === undefined) {
      entry = { metric: { name: metric.name, help: metric.help, type: metric.type, aggregator: metric.aggregator, values: [] }, series: new Map() };
      out.set(metric.name, entry);
    }
    for (const value of metric.values) {
      const key = seriesKey(value);
      const existing = entry.series.get(key);
      if (existing === undefined) entry.series.set(key, { ...value, labels: { ...value.labels } });
      else existing.value += value.value;
    }
  }
  return [...out.values()].map(({ metric, series }) => ({ ...metric, values: [...series.values()] }));
}

/** The value of the series of `name` (and `metricName`, for histograms) whose labels include `match`, summed. */
export function sumOf(metrics: readonly MetricSnapshot[], name: string, match: Labels = {}, metricName?: string): number {
  let total = 0;
  for (const metric of metrics) {
    if (metric.name !== name) continue;
    for (const value of metric.values) {
      if (metricName !== undefined && value.metricName !== metricName) continue;
      if (Object.entries(match).every(([k, v]) => String(value.labels[k]) === String(v))) total += value.value;
    }
  }
  return total;
}
