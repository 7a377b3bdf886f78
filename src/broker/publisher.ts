import { randomUUID } from 'node:crypto';
import type { ConfirmChannel } from 'amqplib';
import { Deadline, raceDeadline } from '../deadline.js';
import { BrokerUnreachableError, ErrorCode, RabbitWorkerError, RequestFailedError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { startSendSpan } from '../tracing/spans.js';
import { ConfirmLink } from './confirm-link.js';
import { unreachableHint } from './connection.js';
import { DelayedDelivery } from './delayed-delivery.js';
import { prepareOutgoing, type Outgoing, type PublishOptions } from './outgoing.js';
import { checkPayload, describePayloadIssues } from './payload-schema.js';
import { isQueueDefinition, type AnyQueueDefinition, type PayloadInputOf, type ReplyOf } from './queue-definition.js';
import { ReplyInbox } from './reply-inbox.js';
import { DIRECT_REPLY_TO } from './reply-protocol.js';
import type { QueueType } from './topology.js';
import { parseUrls } from './url.js';

export type { PublishOptions };

export interface PublisherOptions {
  /** Broker URL(s), comma-separated for a cluster (tried in turn, failing over). @default process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672' */
  url?: string;
  /**
   * How long `publish()` may wait for the broker when it is away (connecting, reconnecting, blocked by a
   * resource alarm, retrying after a connection lost before the confirm). Past it, `publish()` rejects:
   * a message never vanishes silently. @default 30000
   */
  publishTimeoutMs?: number;
  /** @deprecated delays no longer create queues of a type; kept so that existing code compiles. */
  queueType?: QueueType;
  logger?: Logger;
}

/** Options of `request()`: those of `publish()` but a delay (the reply would wait for it) and the correlation id (the request's own). */
export interface RequestOptions extends Omit<PublishOptions, 'delayMs' | 'correlationId'> {
  /** How long to wait for the reply, from the call (the broker's confirm included), in ms. @default 30000 */
  timeoutMs?: number;
}

/** A publisher bound to one queue definition: payloads and replies typed by its schemas. */
export interface QueuePublisher<Q extends AnyQueueDefinition> {
  readonly definition: Q;
  /** `publisher.publish(definition, payload, options)`. */
  publish(payload: PayloadInputOf<Q>, options?: PublishOptions): Promise<string>;
  /** `publisher.request(definition, payload, options)`. */
  request(payload: PayloadInputOf<Q>, options?: RequestOptions): Promise<ReplyOf<Q>>;
}

const unroutable = (queue: string): RabbitWorkerError =>
  new RabbitWorkerError(ErrorCode.PUBLISH_UNROUTABLE, `queue "${queue}" does not exist: the message was not delivered`);

/**
 * The application's side: publishes messages for workers, persistently, and resolves only once the broker
 * confirmed. Publishing to a queue that does not exist rejects (PUBLISH_UNROUTABLE): it is never a silent
 * drop. While the broker is away or blocked by an alarm, `publish()` waits (failing over between the URLs
 * of a cluster, up to `publishTimeoutMs`) and then rejects; a publish whose connection died before the
 * confirm is sent again (at least once).
 *
 * ```ts
 * const publisher = new Publisher({ url: process.env.AMQP_URL });
 * await publisher.publish('resize-image', { id: 42 });
 * await publisher.publish('resize-image', { id: 43 }, { delayMs: 60_000 });
 * await publisher.to(resizeImage).publish({ id: 44, width: 300 }); // typed and validated by its schema
 * const { url } = await publisher.request(resizeImage, { id: 45, width: 300 }, { timeoutMs: 10_000 });
 * await publisher.close();
 * ```
 */
export class Publisher {
  readonly #options: PublisherOptions;
  readonly #urls: string[];
  readonly #link: ConfirmLink;
  readonly #delays: DelayedDelivery;
  readonly #closing = new AbortController();
  #inbox: ReplyInbox | undefined;

  constructor(options: PublisherOptions = {}) {
    this.#options = options;
    this.#urls = parseUrls(options.url);
    this.#link = new ConfirmLink({
      urls: this.#urls,
      name: `rabbit-worker publisher pid ${process.pid}`,
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
    this.#delays = new DelayedDelivery(this.#link);
  }

  /**
   * Publishes `payload` to `queue` (a name, or a queue definition: then the payload is typed and validated
   * by its schema before anything is sent, INVALID_PAYLOAD naming every failing path); resolves with the
   * message id once the broker confirmed it.
   */
  async publish<Q extends string | AnyQueueDefinition>(queue: Q, payload: PayloadInputOf<Q>, options: PublishOptions = {}): Promise<string> {
    this.#checkOpen();
    const outgoing = await prepareOutgoing(queue, payload, options);
    const timeoutMs = this.#options.publishTimeoutMs ?? 30_000;
    const deadline = new Deadline(
      timeoutMs,
      () => new BrokerUnreachableError(`${unreachableHint(this.#urls)} (publish to "${outgoing.queue}" not confirmed within ${timeoutMs} ms)`),
    );
    try {
      await this.#send(outgoing, deadline, options.delayMs);
      return outgoing.properties.messageId;
    } finally {
      deadline.clear();
    }
  }

  /**
   * Sends `payload` to `queue` and resolves with the worker's reply: what its callback returned, or gave to
   * `message.reply()` (typed by the definition's `reply` schema, and checked against it). Through RabbitMQ's
   * direct reply-to: no reply queue, no result store. Rejects with REQUEST_TIMEOUT past `timeoutMs`,
   * REQUEST_FAILED ({@link RequestFailedError}) when the worker dead-lettered the request (rejected,
   * invalid, past maxAttempts) and REPLY_LOST when this publisher's connection was lost while waiting.
   *
   * Limits: the caller must stay connected while it waits (the reply address dies with the channel); the
   * request is delivered at least once, so a retried request may run twice (the first reply wins); a
   * request that times out may still run later.
   */
  async request<Q extends string | AnyQueueDefinition>(queue: Q, payload: PayloadInputOf<Q>, options: RequestOptions = {}): Promise<ReplyOf<Q>> {
    this.#checkOpen();
    const { timeoutMs = 30_000, ...publishOptions } = options;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new RangeError(`request(): timeoutMs must be a positive integer, got ${timeoutMs}`);
    const correlationId = randomUUID();
    const outgoing = await prepareOutgoing(queue, payload, publishOptions, { replyTo: DIRECT_REPLY_TO, correlationId });
    const name = outgoing.queue;
    const deadline = new Deadline(timeoutMs, () => new RabbitWorkerError(ErrorCode.REQUEST_TIMEOUT, `no reply to the request to "${name}" within ${timeoutMs} ms`));
    const inbox = (this.#inbox ??= new ReplyInbox(this.#link));
    const expected = inbox.expect(correlationId);
    expected.reply.catch(() => {}); // awaited below; a rejection before then is not unhandled
    try {
      await inbox.attach(deadline);
      await this.#send(outgoing, deadline, undefined, expected.sent);
      const reply = await raceDeadline(expected.reply, deadline);
      if (!reply.ok) throw new RequestFailedError(`the request to "${name}" was dead-lettered: ${reply.error.reason}`, reply.error.reason, reply.error.cause);
      return (await this.#checkReply(queue, reply.value)) as ReplyOf<Q>;
    } finally {
      expected.forget();
      deadline.clear();
    }
  }

  /** A publisher for one queue definition, typed by its schemas: `publisher.to(resizeImage).publish({ … })`. */
  to<Q extends AnyQueueDefinition>(definition: Q): QueuePublisher<Q> {
    if (!isQueueDefinition(definition)) throw new TypeError('publisher.to(): expected a queue definition from defineQueue()');
    return {
      definition,
      publish: (payload, options) => this.publish(definition, payload, options),
      request: (payload, options) => this.request(definition, payload, options),
    };
  }

  #checkOpen(): void {
    if (this.#closing.signal.aborted) throw new RabbitWorkerError(ErrorCode.PUBLISHER_CLOSED, 'publish() after close()');
  }

  /** Publishes within a `send <queue>` span when tracing is on (its context goes in the headers). */
  async #send(outgoing: Outgoing, deadline: Deadline, delayMs: number | undefined, onConfirmed?: (channel: ConfirmChannel) => void): Promise<void> {
    const { queue, body, properties } = outgoing;
    const span = startSendSpan({ queue, routingKey: queue, messageId: properties.messageId, correlationId: properties.correlationId }, properties.headers);
    try {
      // 0 (a computed delay that came out at nothing) is a plain publish
      if (delayMs !== undefined && delayMs > 0) await this.#delays.send(queue, delayMs, body, properties, deadline);
      else {
        const outcome = await this.#link.publish('', queue, body, properties, deadline, onConfirmed);
        if (outcome === 'returned') throw unroutable(queue);
      }
      span?.end();
    } catch (error) {
      span?.end(error);
      throw error;
    }
  }

  /** The reply, checked against the definition's `reply` schema when it has one (its output then). */
  async #checkReply(queue: string | AnyQueueDefinition, value: unknown): Promise<unknown> {
    if (!isQueueDefinition(queue) || queue.reply === undefined) return value;
    const checked = await checkPayload(queue.reply, value);
    if (checked.ok) return checked.value;
    throw new RabbitWorkerError(ErrorCode.INVALID_REPLY, `the reply from "${queue.name}" failed its reply schema: ${describePayloadIssues(checked.issues).replace(/^invalid payload/, 'invalid reply')}`);
  }

  /** Waits (up to 5 s, also under an alarm) for outstanding confirms, then closes. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closing.signal.aborted) this.#closing.abort(new RabbitWorkerError(ErrorCode.PUBLISHER_CLOSED, 'publisher closed'));
    this.#inbox?.close(new RabbitWorkerError(ErrorCode.PUBLISHER_CLOSED, 'the publisher was closed while a request waited for its reply'));
    await this.#link.close();
  }
}
