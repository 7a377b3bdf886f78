import type { Labels, SeriesValue } from './snapshot.js';

/**
 * A histogram's counts, kept by hand on the hot path. prom-client's `Histogram.labels(…).observe()` hashes
 * and validates the labels on every call: about 0.4 µs per observation here (1.26 µs for the three metric
 * updates of one message, against 0.04 µs for these arrays; measured with 10^6 updates on Node 20), which
 * is a few percent of a worker's time per message at 30,000 messages/s. The counts are turned into
 * prom-client's JSON only when someone asks (a scrape, a report to the supervisor every few seconds).
 */
export class Buckets {
  /** Upper bounds, ascending; the +Inf bucket is implicit. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }

  /** The series of prom-client's histogram JSON: cumulative `_bucket`s with `le`, then `_sum` and `_count`. */
  series(name: string, labels: Labels): SeriesValue[] {
    const out: SeriesValue[] = [];
    let cumulative = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      cumulative += this.counts[i] as number;
      out.push({ value: cumulative, metricName: `${name}_bucket`, labels: { ...labels, le: i < this.bounds.length ? (this.bounds[i] as number) : '+Inf' } });
    }
    out.push({ value: this.sum, metricName: `${name}_sum`, labels: { ...labels } });
    out.push({ value: this.count, metricName: `${name}_count`, labels: { ...labels } });
    return out;
  }
}

/**
 * The `q` quantile (0..1) of a histogram given as cumulative counts per upper bound, interpolated linearly
 * inside the bucket where it falls, as Prometheus's `histogram_quantile()` does. Null without observations;
 * a quantile in the +Inf bucket is reported as the highest finite bound.
 */
export function quantile(q: number, bounds: readonly number[], cumulative: readonly number[]): number | null {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let previousBound = 0;
  let previousCount = 0;
  for (let i = 0; i < cumulative.length; i++) {
    const count = cumulative[i] as number;
    if (count >= rank) {
      const bound = bounds[i];
      if (bound === undefined) return bounds[bounds.length - 1] ?? null;
      const inBucket = count - previousCount;
      return inBucket <= 0 ? bound : previousBound + (bound - previousBound) * ((rank - previousCount) / inBucket);
    }
    previousBound = bounds[i] ?? previousBound;
    previousCount = count;
  }
  return bounds[bounds.length - 1] ?? null;
}
