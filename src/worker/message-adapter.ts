import { describePayloadIssues, checkPayload, type PayloadCheck, type PayloadSchema } from '../broker/payload-schema.js';
import type { PayloadOf, ReplyInputOf } from '../broker/queue-definition.js';
import { MalformedMessageError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { DeliveryData, MessageProperties, SettleFn, Settlement } from './settlement.js';

/**
 * The message a callback receives: the specification's MessageAdapter, built from one AMQP delivery.
 * `T` is the payload's type (from the queue definition's schema: see `MessageOf`), `R` what a request's
 * reply may be.
 *
 * Settle it once with `ack()`, `nack()` or `reject(reason)`. Settling again is a logged no-op. A callback
 * that returns without settling gets its message acked (with a warning); one that throws gets it nacked.
 */
export class MessageAdapter<T = unknown, R = unknown> {
  readonly #data: DeliveryData;
  readonly #settle: SettleFn;
  readonly #logger: Logger;
  #body: Buffer | undefined;
  #settlement: Settlement | undefined;
  #parsed: { value: T } | undefined;
  #abort: AbortController | undefined;
  #abortReason: Error | undefined;
  /** A request's ack waits for the callback's end: its reply (the return value) must go first. */
  #heldAck = false;

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
   * The payload: the body parsed as JSON and, when the worker has a schema, the schema's output (validated
   * once, before the callback ran: an invalid message never reaches it). A body that is not JSON rejects
   * the message to `<queue>.dlq` and throws a {@link MalformedMessageError}.
   */
  get payload(): T {
    return this.json<T>();
  }

  /**
   * The body parsed as JSON (the schema's output when the worker has one). A body that is not JSON rejects
   * the message to `<queue>.dlq` with the parse error as its reason, and throws a
   * {@link MalformedMessageError} so that the callback stops there.
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
  /** True when the publisher waits for a reply (`publisher.request()`): the message has `replyTo` and `correlationId`. */
  get isRequest(): boolean {
    return this.#data.properties.replyTo !== undefined && this.#data.properties.correlationId !== undefined;
  }
  /** True once ack, nack or reject was called. */
  get settled(): boolean {
    return this.#settlement !== undefined;
  }
  /** How it was settled, if it was. */
  get settlement(): Settlement | undefined {
    return this.#settlement;
  }

  /**
   * Done: the broker forgets the message. On a request, the ack waits for the callback's end, so that its
   * reply (the callback's return value) is published first.
   */
  ack(): void {
    if (this.isRequest && this.#settlement === undefined) {
      this.#settlement = { kind: 'ack' };
      this.#heldAck = true;
      return;
    }
    this.#apply({ kind: 'ack' });
  }

  /**
   * Answers a request with `value` (JSON, or a Buffer sent as it is) and acks it: the reply is published
   * and confirmed before the ack. What `publisher.request()` resolves with. The callback's return value
   * does the same. On a message that is not a request, the same as `ack()`.
   */
  reply(value: R): void {
    if (!this.isRequest) return this.ack();
    this.#apply(encodeReply(value));
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

  /**
   * @internal Validates the payload against `schema` before the callback: true when it may run; false
   * when the message was rejected (not JSON, or invalid: every failing path in the reason). A Promise for
   * an asynchronous schema.
   */
  validate(schema: PayloadSchema): boolean | Promise<boolean> {
    let raw: unknown;
    try {
      raw = this.json();
    } catch {
      return false; // json() rejected it as malformed
    }
    const checked = checkPayload(schema, raw);
    return checked instanceof Promise ? checked.then((result) => this.#checked(result)) : this.#checked(checked);
  }

  #checked(result: PayloadCheck): boolean {
    if (result.ok) {
      this.#parsed = { value: result.value as T };
      return true;
    }
    this.#apply({ kind: 'reject', reason: describePayloadIssues(result.issues), cause: 'invalid_payload' });
    return false;
  }

  /**
   * @internal The callback ended (`failed`: it threw). A request whose callback returned gets its reply:
   * `value` (the return value) unless `reply()` answered already; a held ack is released as that reply.
   */
  complete(value: unknown, failed: boolean): void {
    if (this.#heldAck) {
      this.#heldAck = false;
      const settlement = encodeReply(failed ? undefined : value);
      this.#settlement = settlement;
      this.#settle(settlement);
    } else if (!failed && this.#settlement === undefined && this.isRequest) this.#apply(encodeReply(value));
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

/**
 * The largest reply: 16 MiB. A reply crosses from the callback's isolate to the main thread, and copying a
 * huge value there can exhaust a heap in native code, where no guard catches it (seen: a 200 MB string
 * returned by a callback aborted the whole process). RabbitMQ's own limit is 128 MiB by default.
 */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;

const tooLarge = (bytes: number): Settlement => ({
  kind: 'reject',
  reason: `the reply is too large (${bytes} bytes, more than ${MAX_REPLY_BYTES}): return a reference to the result (a URL, a key) rather than the result`,
  cause: 'permanent_error',
});

/** A reply as it travels: JSON text (undefined → null), or bytes; a value JSON cannot encode, or too large, dead-letters the request. */
function encodeReply(value: unknown): Settlement {
  if (value instanceof Uint8Array) return value.byteLength > MAX_REPLY_BYTES ? tooLarge(value.byteLength) : { kind: 'reply', body: value };
  let json: string;
  try {
    json = JSON.stringify(value) ?? 'null';
  } catch (error) {
    return { kind: 'reject', reason: `the reply cannot be encoded as JSON: ${(error as Error).message}`, cause: 'permanent_error' };
  }
  // a string's length never exceeds its UTF-8 size: the cheap check first
  if (json.length > MAX_REPLY_BYTES) return tooLarge(json.length);
  const bytes = Buffer.byteLength(json);
  return bytes > MAX_REPLY_BYTES ? tooLarge(bytes) : { kind: 'reply', body: json };
}

/**
 * The message a worker of queue definition `Q` receives: its payload typed by the definition's schema
 * (`message.payload`, `message.json()`), `message.reply()` by its reply schema.
 *
 * ```ts
 * async callback(message: MessageOf<typeof resizeImage>): Promise<void> {
 *   const { id, width } = message.payload;
 * }
 * ```
 */
export type MessageOf<Q> = MessageAdapter<PayloadOf<Q>, ReplyInputOf<Q>>;
