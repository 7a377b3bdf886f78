import { MalformedMessageError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { DeliveryData, MessageProperties, SettleFn, Settlement } from './settlement.js';

/**
 * The message a callback receives: the specification's MessageAdapter, built from one AMQP delivery.
 *
 * Settle it once with `ack()`, `nack()` or `reject(reason)`. Settling again is a logged no-op. A callback
 * that returns without settling gets its message acked (with a warning); one that throws gets it nacked.
 */
export class MessageAdapter<T = unknown> {
  readonly #data: DeliveryData;
  readonly #settle: SettleFn;
  readonly #logger: Logger;
  #body: Buffer | undefined;
  #settlement: Settlement | undefined;
  #parsed: { value: T } | undefined;
  #abort: AbortController | undefined;
  #abortReason: Error | undefined;

  /** @internal built by the framework, never by user code */
  constructor(data: DeliveryData, settle: SettleFn, logger: Logger) {
    this.#data = data;
    this.#settle = settle;
    this.#logger = logger;
  }

  /** The raw body. */
  get body(): Buffer {
    const body = this.#data.body;
    this.#body ??= Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return this.#body;
  }

  /**
   * The body parsed as JSON. A body that is not JSON rejects the message to `<queue>.dlq` with the parse
   * error as its reason, and throws a {@link MalformedMessageError} so that the callback stops there.
   */
  json<U = T>(): U {
    if (this.#parsed === undefined) {
      try {
        this.#parsed = { value: JSON.parse(this.body.toString('utf8')) as T };
      } catch (error) {
        const reason = `invalid JSON: ${(error as Error).message}`;
        this.#apply({ kind: 'reject', reason, cause: 'malformed' });
        throw new MalformedMessageError(reason, { cause: error });
      }
    }
    return this.#parsed.value as unknown as U;
  }

  get headers(): Record<string, unknown> {
    return this.#data.properties.headers;
  }
  get properties(): MessageProperties {
    return this.#data.properties;
  }
  get messageId(): string | undefined {
    return this.#data.properties.messageId;
  }
  /** True when the broker delivered this message before (to this or another consumer). */
  get redelivered(): boolean {
    return this.#data.redelivered;
  }
  /** 1 on the first delivery, then 2, 3…; past `maxAttempts` the message never reaches the callback. */
  get attempt(): number {
    return this.#data.attempt;
  }
  /** The queue it came from. */
  get queue(): string {
    return this.#data.queue;
  }
  get routingKey(): string {
    return this.#data.routingKey;
  }
  /** True once ack, nack or reject was called. */
  get settled(): boolean {
    return this.#settlement !== undefined;
  }
  /** How it was settled, if it was. */
  get settlement(): Settlement | undefined {
    return this.#settlement;
  }

  /** Done: the broker forgets the message. */
  ack(): void {
    this.#apply({ kind: 'ack' });
  }

  /** Back to the queue for another attempt; `{ requeue: false }` is `reject()`. */
  nack(options: { requeue?: boolean } = {}): void {
    if (options.requeue === false) this.reject('nacked without requeue');
    else this.#apply({ kind: 'nack' });
  }

  /**
   * Another attempt after `delayMs` (default: the worker's retry schedule for this attempt), through a retry
   * queue: the worker is not blocked meanwhile. Past `maxAttempts` the message is dead-lettered instead.
   */
  retry(delayMs?: number): void {
    if (delayMs !== undefined && (!Number.isFinite(delayMs) || delayMs < 0)) throw new RangeError(`retry(): delayMs must be a number >= 0, got ${delayMs}`);
    this.#apply(delayMs === undefined ? { kind: 'retry' } : { kind: 'retry', delayMs: Math.round(delayMs) });
  }

  /**
   * Aborts when the callback should give up: its `messageTimeout` passed (the message is then retried).
   * Hand it to fetch(), database drivers, timers.
   */
  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      this.#abort = new AbortController();
      if (this.#abortReason !== undefined) this.#abort.abort(this.#abortReason);
    }
    return this.#abort.signal;
  }

  /** @internal the framework aborts a callback past its deadline */
  abort(reason: Error): void {
    this.#abortReason ??= reason;
    this.#abort?.abort(reason);
  }

  /** Straight to `<queue>.dlq`, with `reason` in its `x-rabbit-worker-reason` header. */
  reject(reason = 'rejected by the callback'): void {
    this.#apply({ kind: 'reject', reason });
  }

  #apply(settlement: Settlement): void {
    if (this.#settlement !== undefined) {
      this.#logger.warn(`message already settled (${this.#settlement.kind}); ${settlement.kind} ignored`, { messageId: this.messageId, code: 'ALREADY_SETTLED' });
      return;
    }
    this.#settlement = settlement;
    this.#settle(settlement);
  }
}
