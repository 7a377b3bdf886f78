import { z } from 'zod';
import type { QueueType } from '../broker/topology.js';
import { ConfigError } from '../errors.js';

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

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);

/** One schema: `initialize()`, config files and CLI flags all go through it. */
export const settingsSchema = z.strictObject({
  queue: z.string().min(1, 'no queue configured: call this.setQueue(name) in initialize()').max(255),
  ttl: z.number().min(0),
  prefetch: int(1, 65535),
  maxMessages: int(0),
  memoryLimitMb: int(16),
  maxAttempts: int(1),
  stopTimeout: z.number().min(0),
  isolation: z.enum(['thread', 'none']),
  queueType: z.enum(['quorum', 'classic']),
  spareMemoryMultiplier: z.number().positive().max(1024),
  retryDelayMs: int(0, 86_400_000),
  retryBackoff: z.number().min(1).max(100),
  retryMaxDelayMs: int(1, 86_400_000),
  messageTimeout: z.number().min(0).max(86_400),
  consumerTimeout: z.number().positive().max(7 * 86_400),
  threads: int(1, 64),
  httpPort: int(0, 65535),
  metrics: z.boolean(),
  maxPriority: int(0, 255),
});

/** The subset of settings that the config file and command line may override. */
export type SettingsOverrides = Partial<WorkerSettings>;

/**
 * Merges the worker's own values with the overrides (which win) and validates the result.
 * Throws a {@link ConfigError} whose one-line message names the bad field.
 */
export function normalizeSettings(fromWorker: Partial<Record<keyof WorkerSettings, unknown>>, overrides: SettingsOverrides = {}): WorkerSettings {
  const merged: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  for (const layer of [fromWorker, overrides]) {
    for (const [key, value] of Object.entries(layer)) if (value !== undefined) merged[key] = value;
  }
  if (merged.queue === undefined) merged.queue = '';
  const result = settingsSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(describeIssues(result.error));
  if (result.data.maxPriority > 0 && result.data.queueType !== 'classic') {
    throw new ConfigError(`maxPriority: priorities need queueType 'classic' (RabbitMQ ignores them on quorum queues before 4.0); got queueType '${result.data.queueType}'`);
  }
  return result.data;
}

/** Checks the overrides alone (every key optional), before the worker is loaded; a ConfigError names the bad field. */
export function checkOverrides(overrides: SettingsOverrides): void {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  const result = settingsSchema.partial().safeParse(defined);
  if (!result.success) throw new ConfigError(describeIssues(result.error));
}

/** `ttl: Too small: expected number to be >=0; isolation: …`, on one line. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join('.');
      if (issue.code === 'unrecognized_keys') return `unknown setting ${issue.keys.map((k) => `"${k}"`).join(', ')}${path ? ` in ${path}` : ''}`;
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
