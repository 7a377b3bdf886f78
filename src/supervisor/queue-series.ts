import { quantile } from '../metrics/histogram.js';
import { HANDLER_BUCKETS } from '../metrics/names.js';
import type { Series, SeriesPoint } from './dashboard-contract.js';
import type { QueueCounters } from './peers.js';

/** One step of the dashboard's charts. */
export const STEP_MS = 10_000;
/** An hour of steps. */
export const MAX_POINTS = 360;

/** What one step knows of a queue beyond its counters. */
export interface QueueGauges {
  ready: number | null;
  /** Deliveries held by the processes of every host. */
  inflight: number;
}

/** Rates of the last step, in messages per second; null before two steps were seen. */
export interface QueueRates {
  inRate: number | null;
  outRate: number | null;
}

interface Track {
  points: SeriesPoint[];
  rates: QueueRates;
  /** ready + inflight at the previous step, for the arrival estimate. */
  previousBacklog: number | null;
}

/**
 * The last hour of every queue, in {@link STEP_MS} steps, from the counters of every host (this one's
 * metrics, the others' heartbeats): each host's counters are differenced against its own previous step, so
 * a host that appears, restarts (its counters start again from 0) or disappears never makes a step jump.
 * Latency quantiles come from the differences of the handler-duration histograms, as Prometheus's
 * `histogram_quantile()` would compute them over the step.
 *
 * Out/s is what the workers finished; in/s is estimated as out/s plus the growth of ready + in flight over
 * the step (AMQP has no publish counter without the management API).
 */
export class QueueSeries {
  readonly #tracks = new Map<string, Track>();
  /** host id → queue → counters at the previous step. */
  #previous = new Map<string, Map<string, QueueCounters>>();

  /** Takes one step at `now` (epoch ms) with every host's cumulative counters and each queue's gauges. */
  sample(now: number, hosts: ReadonlyMap<string, Record<string, QueueCounters>>, gauges: ReadonlyMap<string, QueueGauges>): void {
    const next = new Map<string, Map<string, QueueCounters>>();
    const sums = new Map<string, { acked: number; retried: number; dead: number; requeued: number; durations: number[] }>();
    for (const [host, queues] of hosts) {
      const before = this.#previous.get(host);
      const mine = new Map<string, QueueCounters>();
      for (const [queue, counters] of Object.entries(queues)) {
        mine.set(queue, counters);
        const last = before?.get(queue);
        if (last === undefined) continue; // first sight of this host and queue: a baseline, not a step
        const sum = sums.get(queue) ?? { acked: 0, retried: 0, dead: 0, requeued: 0, durations: new Array<number>(HANDLER_BUCKETS.length + 1).fill(0) };
        const d = (now_: number, then: number): number => Math.max(0, now_ - then); // a restart starts from 0 again
        sum.acked += d(counters.handled.ack, last.handled.ack);
        sum.retried += d(counters.handled.retry, last.handled.retry);
        sum.dead += d(counters.handled.dead_letter, last.handled.dead_letter);
        sum.requeued += d(counters.handled.requeue, last.handled.requeue);
        counters.durations.forEach((value, i) => {
          sum.durations[i] = (sum.durations[i] ?? 0) + d(value, last.durations[i] ?? 0);
        });
        sums.set(queue, sum);
      }
      next.set(host, mine);
    }
    this.#previous = next;
    const t = Math.floor(now / STEP_MS) * STEP_MS;
    for (const [queue, gauge] of gauges) {
      const track = this.#tracks.get(queue) ?? { points: [], rates: { inRate: null, outRate: null }, previousBacklog: null };
      const sum = sums.get(queue);
      const p = (q: number): number | null => {
        const value = sum === undefined ? null : quantile(q, HANDLER_BUCKETS, sum.durations);
        return value === null ? null : Math.round(value * 10_000) / 10;
      };
      track.points.push({ t, acked: sum?.acked ?? 0, retried: sum?.retried ?? 0, deadLettered: sum?.dead ?? 0, p50Ms: p(0.5), p95Ms: p(0.95), ready: gauge.ready });
      if (track.points.length > MAX_POINTS) track.points.splice(0, track.points.length - MAX_POINTS);
      const out = sum === undefined ? 0 : sum.acked + sum.retried + sum.dead + sum.requeued;
      const backlog = gauge.ready === null ? null : gauge.ready + gauge.inflight;
      track.rates = {
        outRate: round(out / (STEP_MS / 1000)),
        inRate: backlog === null || track.previousBacklog === null ? null : round(Math.max(0, out + backlog - track.previousBacklog) / (STEP_MS / 1000)),
      };
      track.previousBacklog = backlog;
      this.#tracks.set(queue, track);
    }
  }

  /** `GET /api/series?queue=`: the last hour, oldest first. */
  series(queue: string): Series {
    return { stepSeconds: STEP_MS / 1000, points: [...(this.#tracks.get(queue)?.points ?? [])] };
  }

  rates(queue: string): QueueRates {
    return this.#tracks.get(queue)?.rates ?? { inRate: null, outRate: null };
  }
}

const round = (value: number): number => Math.round(value * 10) / 10;
