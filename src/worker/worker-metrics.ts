import { systemClock, type Clock } from '../clock.js';
import { Buckets } from '../metrics/histogram.js';
import {
  DEAD_LETTER_REASONS,
  HANDLED_OUTCOMES,
  HANDLER_BUCKETS,
  ISOLATE_RESTART_REASONS,
  MetricName,
  QUEUE_WAIT_BUCKETS,
  type DeadLetterReason,
  type IsolateRestartReason,
} from '../metrics/names.js';
import { simpleMetric, type MetricSnapshot } from '../metrics/snapshot.js';
import type { Delivery } from './delivery.js';
import type { SettledOutcome } from './settler.js';

/** What the metrics read from the worker when they are collected (nothing on the hot path). */
export interface WorkerMetricsSources {
  /** Deliveries received and not finished. */
  inflight(): number;
  /** The consuming connection is open. */
  connected(): boolean;
}

const OUTCOME_INDEX: Record<SettledOutcome, number> = {
  ack: HANDLED_OUTCOMES.indexOf('ack'),
  retry: HANDLED_OUTCOMES.indexOf('retry'),
  'dead-letter': HANDLED_OUTCOMES.indexOf('dead_letter'),
  requeue: HANDLED_OUTCOMES.indexOf('requeue'),
  // the channel closed before the settlement left: the broker puts the message back in the queue
  'lost-channel': HANDLED_OUTCOMES.indexOf('requeue'),
};

/**
 * The metrics of one worker process (one worker type, one queue), kept on the main thread, which sees
 * every dispatch, settlement and isolate death; the isolates keep none. The hot path (one call per
 * received and per settled message) only adds to numbers and arrays allocated up front; the snapshot in
 * prom-client's JSON is built when it is asked for: by a scrape of `run --http-port`, or the report to
 * the supervisor every few seconds.
 */
export class WorkerMetrics {
  readonly #labels: { worker: string; queue: string };
  readonly #sources: WorkerMetricsSources;
  readonly #clock: Clock;
  readonly #handled = new Float64Array(HANDLED_OUTCOMES.length);
  readonly #durations: Buckets[] = HANDLED_OUTCOMES.map(() => new Buckets(HANDLER_BUCKETS));
  readonly #wait = new Buckets(QUEUE_WAIT_BUCKETS);
  readonly #dead = new Float64Array(DEAD_LETTER_REASONS.length);
  readonly #isolates = new Float64Array(ISOLATE_RESTART_REASONS.length);
  #redeliveries = 0;

  constructor(labels: { worker: string; queue: string }, sources: WorkerMetricsSources, clock: Clock = systemClock) {
    this.#labels = labels;
    this.#sources = sources;
    this.#clock = clock;
  }

  /** A delivery arrived. */
  received(delivery: Delivery): void {
    if (delivery.data.redelivered) this.#redeliveries++;
  }

  /** A delivery's final outcome reached the broker (or its channel was gone). */
  settled(delivery: Delivery, outcome: SettledOutcome): void {
    const index = OUTCOME_INDEX[outcome];
    this.#handled[index] = (this.#handled[index] as number) + 1;
    const started = delivery.startedAt;
    if (started > 0) {
      (this.#durations[index] as Buckets).observe((this.#clock.now() - started) / 1000);
      const timestamp = delivery.data.properties.timestamp;
      if (timestamp !== undefined && timestamp > 0) this.#wait.observe(Math.max(0, started / 1000 - timestamp));
    }
    if (outcome === 'dead-letter') {
      const settlement = delivery.settlement;
      const reason: DeadLetterReason = settlement?.kind === 'reject' ? (settlement.cause ?? 'rejected') : 'headers_too_large';
      const at = DEAD_LETTER_REASONS.indexOf(reason);
      this.#dead[at] = (this.#dead[at] as number) + 1;
    }
  }

  /** A callback isolate was replaced. */
  isolateRestarted(reason: IsolateRestartReason): void {
    const at = ISOLATE_RESTART_REASONS.indexOf(reason);
    this.#isolates[at] = (this.#isolates[at] as number) + 1;
  }

  /** Every metric of this process, in prom-client's JSON; every label value present, zeros included. */
  snapshot(): MetricSnapshot[] {
    const labels = this.#labels;
    const with_ = (key: string, value: string): Record<string, string> => ({ ...labels, [key]: value });
    return [
      simpleMetric(MetricName.handled, 'Messages whose handling ended, by outcome (ack, retry, dead_letter, requeue).', 'counter', HANDLED_OUTCOMES.map((o, i) => [with_('outcome', o), this.#handled[i] as number])),
      {
        name: MetricName.handlerDuration,
        help: 'Seconds from the start of the callback to the settlement reaching the broker, by outcome.',
        type: 'histogram',
        aggregator: 'sum',
        values: HANDLED_OUTCOMES.flatMap((o, i) => (this.#durations[i] as Buckets).series(MetricName.handlerDuration, with_('outcome', o))),
      },
      {
        name: MetricName.queueWait,
        help: "Seconds from the message's timestamp (whole seconds, set by the publisher) to the start of its callback.",
        type: 'histogram',
        aggregator: 'sum',
        values: this.#wait.series(MetricName.queueWait, labels),
      },
      simpleMetric(MetricName.inFlight, 'Deliveries received and not yet finished.', 'gauge', [[labels, this.#sources.inflight()]]),
      simpleMetric(MetricName.deadLettered, 'Messages sent to <queue>.dlq, by reason.', 'counter', DEAD_LETTER_REASONS.map((r, i) => [with_('reason', r), this.#dead[i] as number])),
      simpleMetric(MetricName.redeliveries, 'Deliveries the broker flagged as redelivered.', 'counter', [[labels, this.#redeliveries]]),
      simpleMetric(MetricName.isolateRestarts, 'Callback isolates replaced, by reason (out_of_memory, timeout, crash).', 'counter', ISOLATE_RESTART_REASONS.map((r, i) => [with_('reason', r), this.#isolates[i] as number])),
      // across processes: 1 only while every process of the type is connected
      simpleMetric(MetricName.brokerConnected, '1 while the connection to RabbitMQ is open.', 'gauge', [[labels, this.#sources.connected() ? 1 : 0]], 'min'),
    ];
  }
}
