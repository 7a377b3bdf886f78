import type { PayloadSchema } from '../broker/payload-schema.js';
import { isQueueDefinition, type AnyQueueDefinition } from '../broker/queue-definition.js';
import { Logger } from '../log/logger.js';
import type { MessageAdapter } from './message-adapter.js';
import { DEFAULT_SETTINGS, type Isolation, type QueueType, type WorkerSettings } from './settings.js';
import type { ShutdownReason } from './shutdown-reason.js';

/** Marks WorkerTask subclasses even when two copies of the package are loaded (tsx namespaces, dual installs). */
export const WORKER_TASK_BRAND = Symbol.for('rabbit-worker.WorkerTask');

/**
 * The base class of every worker, as the specification names it. A subclass configures itself in
 * `initialize()` (after `super.initialize()`), handles each message in `callback()`, and may override
 * `shutdown()`. `rabbit-worker run <file>` constructs it with no arguments, then calls `initialize()`.
 *
 * ```ts
 * export default class ResizeImage extends WorkerTask {
 *   initialize(): void {
 *     super.initialize();
 *     this.setQueue('resize-image');
 *   }
 *   async callback(message: MessageAdapter<{ id: number }>): Promise<void> {
 *     const { id } = message.json();
 *     message.ack();
 *   }
 * }
 * ```
 */
export abstract class WorkerTask {
  static readonly [WORKER_TASK_BRAND] = true;

  /** Seconds of process life; when reached the worker drains and exits 0 for the process manager to restart it. 0 = unlimited. @default 0 */
  ttl: number = DEFAULT_SETTINGS.ttl;
  /** Deliveries in flight; with more than 1, callbacks run concurrently. @default 1 */
  prefetch: number = DEFAULT_SETTINGS.prefetch;
  /** Recycle the process after this many messages. 0 = unlimited. @default 0 */
  maxMessages: number = DEFAULT_SETTINGS.maxMessages;
  /** Heap of the callback isolate, in MB; between messages the worker recycles once callbacks hold more (heap + Buffers). @default 512 */
  memoryLimitMb: number = DEFAULT_SETTINGS.memoryLimitMb;
  /** Deliveries before a message goes to `<queue>.dlq` without reaching the callback again. @default 5 */
  maxAttempts: number = DEFAULT_SETTINGS.maxAttempts;
  /** Seconds that in-flight callbacks get after SIGTERM/SIGINT. @default 30 */
  stopTimeout: number = DEFAULT_SETTINGS.stopTimeout;
  /** `thread` runs callbacks in a heap-limited isolate (the out-of-memory guard); `none` on the main thread. @default 'thread' */
  isolation: Isolation = DEFAULT_SETTINGS.isolation;
  /** @default 'quorum' */
  queueType: QueueType = DEFAULT_SETTINGS.queueType;
  /**
   * Memory kept for `shutdown()`: it runs with `spareMemoryMultiplier × 32` MB of heap of its own, even when
   * the callback exhausted its heap. Raise it when `shutdown()` needs more. @default 2
   */
  spareMemoryMultiplier: number = DEFAULT_SETTINGS.spareMemoryMultiplier;
  /** Delay before the first retry of a callback that threw, in ms (then × `retryBackoff`, up to `retryMaxDelayMs`, with jitter); 0 = at once. @default 1000 */
  retryDelayMs: number = DEFAULT_SETTINGS.retryDelayMs;
  /** Growth factor of the retry delay. @default 4 */
  retryBackoff: number = DEFAULT_SETTINGS.retryBackoff;
  /** Cap of the retry delay, in ms. @default 300000 */
  retryMaxDelayMs: number = DEFAULT_SETTINGS.retryMaxDelayMs;
  /** Seconds a callback may run: past it `message.signal` aborts and the message is retried; a callback that ignores the abort has its isolate recycled. 0 = no limit. @default 0 */
  messageTimeout: number = DEFAULT_SETTINGS.messageTimeout;
  /** The broker's `consumer_timeout` in seconds: the worker warns at 80 % of it; keep `messageTimeout` below it. @default 1800 */
  consumerTimeout: number = DEFAULT_SETTINGS.consumerTimeout;
  /** Callback isolates per process, each with its own heap limit and out-of-memory guard; uses that many cores. @default 1 */
  threads: number = DEFAULT_SETTINGS.threads;
  /** Port of this process's own `/metrics`, `/healthz`, `/readyz` endpoint (a container's probes); 0 = none. @default 0 */
  httpPort: number = DEFAULT_SETTINGS.httpPort;
  /** Keep Prometheus metrics (served at `/metrics`, reported to the supervisor); off costs nothing per message. @default true */
  metrics: boolean = DEFAULT_SETTINGS.metrics;
  /** Priorities 0…maxPriority on a classic queue (`x-max-priority`); 0 = none. `setQueue(definition)` sets it from the definition. @default 0 */
  maxPriority: number = DEFAULT_SETTINGS.maxPriority;
  /**
   * The payload's schema (zod, valibot, arktype: any Standard Schema): every body is validated once before
   * `callback()`, and an invalid one goes to `<queue>.dlq` with every failing path in its reason, unrun.
   * `setQueue(definition)` sets it from the queue definition. @default none
   */
  schema: PayloadSchema | undefined = undefined;
  /** The worker's logger; name it with `this.logger.setMainLogger(name)`. */
  logger: Logger = new Logger();

  #queue = '';

  /** Where the worker configures itself; the runner calls it once, after construction. */
  initialize(): void {
    this.logger.setMainLogger(this.constructor.name);
  }

  /**
   * The queue to consume: a name, or a queue definition (`defineQueue()`), whose schema, `queueType` and
   * `maxPriority` the worker then takes (values set after this call win).
   */
  setQueue(queue: string | AnyQueueDefinition): this {
    if (isQueueDefinition(queue)) {
      this.#queue = queue.name;
      if (queue.schema !== undefined) this.schema = queue.schema;
      if (queue.queueType !== undefined) this.queueType = queue.queueType;
      if (queue.maxPriority !== undefined) this.maxPriority = queue.maxPriority;
    } else this.#queue = queue;
    return this;
  }

  /** The queue set by `setQueue()`. */
  get queue(): string {
    return this.#queue;
  }

  /**
   * Handles one message. Settle it with `message.ack()`, `nack()` or `reject(reason)`. For a request
   * (`publisher.request()`), what it returns is the reply (or call `message.reply(value)`).
   */
  abstract callback(message: MessageAdapter): unknown;

  /**
   * Runs once for each message whose callback was interrupted (see {@link ShutdownReason}). The default logs
   * CRITICAL and nacks, so the message goes back to the queue for another attempt. With `isolation: 'thread'`
   * it runs on a fresh instance in its own isolate: state set by `callback()` is not visible here.
   */
  async shutdown(message: MessageAdapter, reason: ShutdownReason, error?: unknown): Promise<void> {
    this.logger.critical(`callback interrupted (${reason}); message nacked for another attempt`, {
      reason,
      messageId: message.messageId,
      attempt: message.attempt,
      ...(error !== undefined ? { err: error } : {}),
    });
    if (!message.settled) message.nack();
  }
}

/** The settings a task instance carries after `initialize()`: every key of the defaults, and the queue. */
export function readSettings(task: WorkerTask): Partial<WorkerSettings> {
  const fields = task as unknown as Record<string, unknown>;
  return { queue: task.queue, ...Object.fromEntries(Object.keys(DEFAULT_SETTINGS).map((key) => [key, fields[key]])) };
}

/** Writes the final settings back, so that a callback reading `this.prefetch` sees the value in force. */
export function applySettings(task: WorkerTask, settings: WorkerSettings): void {
  const { queue, ...rest } = settings;
  task.setQueue(queue);
  Object.assign(task, rest);
}

export type WorkerTaskClass = new () => WorkerTask;

export function isWorkerTaskClass(value: unknown): value is WorkerTaskClass {
  return typeof value === 'function' && (value as unknown as Record<symbol, unknown>)[WORKER_TASK_BRAND] === true;
}
