/**
 * What a worker's settings are and their defaults, without the schema that checks them: callback isolates
 * import this (through WorkerTask) and must not load zod, which only the main thread needs.
 */
import type { QueueType } from '../broker/topology.js';

export type { QueueType };

/** Where callbacks run. `thread`: a heap-limited isolate, so heap exhaustion cannot lose a message. */
export type Isolation = 'thread' | 'none';

/** The settings of a worker, as `initialize()`, the config file and the command line give them. */
export interface WorkerSettings {
  /** The queue to consume; set with `setQueue(name)`. Required. */
  queue: string;
  /** Seconds of process life; at the end the worker drains and exits 0. 0 = unlimited. @default 0 */
  ttl: number;
  /** Deliveries in flight, so callbacks that may run at once. @default 1 */
  prefetch: number;
  /** Recycle the process after this many messages. 0 = unlimited. @default 0 */
  maxMessages: number;
  /** Heap of the callback isolate in MB; between messages the worker recycles once callbacks hold more (heap + Buffers). @default 512 */
  memoryLimitMb: number;
  /** Deliveries before a message is dead-lettered to `<queue>.dlq`. @default 5 */
  maxAttempts: number;
  /** Seconds that in-flight callbacks get after SIGTERM/SIGINT before `shutdown('stop-timeout')`. @default 30 */
  stopTimeout: number;
  /** @default 'thread' */
  isolation: Isolation;
  /** @default 'quorum' */
  queueType: QueueType;
  /** Reserve for `shutdown()`: this many times {@link SPARE_MEMORY_UNIT_MB} MB of heap. @default 2 */
  spareMemoryMultiplier: number;
  /** Delay before the first retry of a failed callback, in ms; 0 = retry at once (plain nack). @default 1000 */
  retryDelayMs: number;
  /** Each further retry waits this many times longer. @default 4 */
  retryBackoff: number;
  /** Longest delay between retries, in ms. @default 300000 */
  retryMaxDelayMs: number;
  /** Seconds a callback may run; past it its `message.signal` aborts and the message is retried. 0 = no limit. @default 0 */
  messageTimeout: number;
  /**
   * The broker's `consumer_timeout`, in seconds (RabbitMQ's default: 30 minutes): a delivery unacked longer
   * has its channel closed by the broker and is redelivered. The worker warns at 80 % of it; keep
   * `messageTimeout` below it. Set it when your broker's differs. @default 1800
   */
  consumerTimeout: number;
  /**
   * Callback isolates per process (`isolation: 'thread'`): messages spread over them, each with its own heap
   * limit (`memoryLimitMb`) and out-of-memory guard; one process then uses that many cores. @default 1
   */
  threads: number;
  /**
   * Port of the process's own HTTP endpoint (`GET /metrics`, `/healthz`, `/readyz`), for containers where one
   * `rabbit-worker run` is the whole pod. 0 = none. Under `rabbit-worker supervise` the supervisor's
   * endpoint serves every process, and its processes get none unless the config file names one. @default 0
   */
  httpPort: number;
  /**
   * Keep the Prometheus metrics of the process (reported to the supervisor, served at `/metrics`). Off, the
   * worker does no per-message bookkeeping at all. @default true
   */
  metrics: boolean;
  /**
   * Priorities for a classic queue: RabbitMQ's `x-max-priority`, so that `publish(…, { priority })` from 0
   * to this value is honoured (higher first). Quorum queues ignore priorities (RabbitMQ before 4.0): set
   * `queueType: 'classic'` with it. Changing it on an existing queue is a TOPOLOGY_MISMATCH: the queue must
   * be deleted and declared again. 0 = none. @default 0
   */
  maxPriority: number;
}

/** The unit of `spareMemoryMultiplier`: `shutdown()` gets `spareMemoryMultiplier × 32` MB of heap. */
export const SPARE_MEMORY_UNIT_MB = 32;

export const DEFAULT_SETTINGS: Omit<WorkerSettings, 'queue'> = {
  ttl: 0,
  prefetch: 1,
  maxMessages: 0,
  memoryLimitMb: 512,
  maxAttempts: 5,
  stopTimeout: 30,
  isolation: 'thread',
  queueType: 'quorum',
  spareMemoryMultiplier: 2,
  retryDelayMs: 1000,
  retryBackoff: 4,
  retryMaxDelayMs: 300_000,
  messageTimeout: 0,
  consumerTimeout: 1800,
  threads: 1,
  httpPort: 0,
  metrics: true,
  maxPriority: 0,
};

