/**
 * The metrics of rabbit-worker, by name, in one place: the contract of issue 11 and of docs/operations.md.
 * Every series carries `worker` (the worker type) and `queue`, unless said otherwise; message ids and
 * hostnames are never labels (their cardinality has no bound).
 */
export const MetricName = {
  handled: 'rabbit_worker_messages_handled_total',
  handlerDuration: 'rabbit_worker_handler_duration_seconds',
  queueWait: 'rabbit_worker_queue_wait_seconds',
  inFlight: 'rabbit_worker_messages_in_flight',
  deadLettered: 'rabbit_worker_dead_lettered_total',
  redeliveries: 'rabbit_worker_redeliveries_total',
  isolateRestarts: 'rabbit_worker_isolate_restarts_total',
  processRestarts: 'rabbit_worker_process_restarts_total',
  processes: 'rabbit_worker_processes',
  brokerConnected: 'rabbit_worker_broker_connected',
  queueMessages: 'rabbit_worker_queue_messages',
  buildInfo: 'rabbit_worker_build_info',
} as const;

/** `outcome` of {@link MetricName.handled} and {@link MetricName.handlerDuration}. */
export type HandledOutcome = 'ack' | 'retry' | 'dead_letter' | 'requeue';
export const HANDLED_OUTCOMES: readonly HandledOutcome[] = ['ack', 'retry', 'dead_letter', 'requeue'];

/**
 * `reason` of {@link MetricName.deadLettered}: a fixed set, so that a reason text never becomes a label.
 * - `rejected`: the callback called `reject()` (or `nack({ requeue: false })`);
 * - `permanent_error`: the callback threw a `PermanentError`;
 * - `malformed`: `message.json()` met a body that is not JSON;
 * - `invalid_payload`: the payload failed the worker's schema;
 * - `max_attempts`: delivered more than `maxAttempts` times, or retried past it;
 * - `headers_too_large`: the retry copy's headers did not fit, so the message was dead-lettered instead.
 */
export type DeadLetterReason = 'rejected' | 'permanent_error' | 'malformed' | 'invalid_payload' | 'max_attempts' | 'headers_too_large';
export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = ['rejected', 'permanent_error', 'malformed', 'invalid_payload', 'max_attempts', 'headers_too_large'];

/**
 * `reason` of {@link MetricName.isolateRestarts}: `out_of_memory` (the isolate exhausted its heap),
 * `timeout` (replaced because a callback ignored its aborted signal past `messageTimeout`), `crash` (an
 * uncaught exception, an unhandled rejection, or `process.exit()` in the isolate).
 */
export type IsolateRestartReason = 'out_of_memory' | 'timeout' | 'crash';
export const ISOLATE_RESTART_REASONS: readonly IsolateRestartReason[] = ['out_of_memory', 'timeout', 'crash'];

/** `state` of {@link MetricName.queueMessages}. */
export type QueueMessageState = 'ready' | 'unacked' | 'delayed' | 'dead';

/**
 * Buckets of {@link MetricName.handlerDuration}, in seconds: from a millisecond (an ack) to five minutes (a
 * long job). Fixed, so that histograms of every process and every host can be summed.
 */
export const HANDLER_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Buckets of {@link MetricName.queueWait}, in seconds. AMQP timestamps are whole seconds, so nothing
 * finer than a second can be told apart: the first bucket is 1 s.
 */
export const QUEUE_WAIT_BUCKETS: readonly number[] = [1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21_600, 86_400];

/** Prometheus's text format, version 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
