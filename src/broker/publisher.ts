import { randomUUID } from 'node:crypto';
import type { Options } from 'amqplib';
import { Deadline } from '../deadline.js';
import { BrokerUnreachableError, ErrorCode, RabbitWorkerError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ConfirmLink } from './confirm-link.js';
import { unreachableHint } from './connection.js';
import { DelayedDelivery } from './delayed-delivery.js';
import { checkHeaders } from './reserved-headers.js';
import type { QueueType } from './topology.js';
import { parseUrls } from './url.js';

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

export interface PublishOptions {
  /** @default a random UUID; the worker sees it as `message.messageId`, the key for idempotent callbacks */
  messageId?: string;
  /** Your headers. Names starting with `x-rabbit-worker-`, and the broker's `x-delivery-count`/`x-death`, are refused (RESERVED_HEADER). */
  headers?: Record<string, unknown>;
  correlationId?: string;
  priority?: number;
  /** Per-message TTL in ms. */
  expiration?: number;
  /** Survives a broker restart. @default true */
  persistent?: boolean;
  /**
   * Deliver after this many ms, through the shared delay levels (no plugin, no queue per delay): rounded up
   * to whole seconds, at most 2^28 − 1 s. The message never arrives earlier than asked.
   */
  delayMs?: number;
}

/** Buffers go as they are; anything else as JSON. */
function encode(payload: unknown): { body: Buffer; contentType: string } {
  if (Buffer.isBuffer(payload)) return { body: payload, contentType: 'application/octet-stream' };
  if (payload instanceof Uint8Array) return { body: Buffer.from(payload), contentType: 'application/octet-stream' };
  const json = JSON.stringify(payload);
  if (json === undefined) throw new TypeError('publish(): payload cannot be encoded as JSON');
  return { body: Buffer.from(json), contentType: 'application/json' };
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
 * await publisher.close();
 * ```
 */
export class Publisher {
  readonly #options: PublisherOptions;
  readonly #urls: string[];
  readonly #link: ConfirmLink;
  readonly #delays: DelayedDelivery;
  readonly #closing = new AbortController();

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

  /** Publishes `payload` to `queue`; resolves with the message id once the broker confirmed it. */
  async publish(queue: string, payload: unknown, options: PublishOptions = {}): Promise<string> {
    if (this.#closing.signal.aborted) throw new RabbitWorkerError(ErrorCode.PUBLISHER_CLOSED, 'publish() after close()');
    const { delayMs } = options;
    if (delayMs !== undefined && (!Number.isInteger(delayMs) || delayMs < 1)) throw new RangeError(`publish(): delayMs must be a positive integer, got ${delayMs}`);
    checkHeaders(options.headers);
    const { body, contentType } = encode(payload);
    const messageId = options.messageId ?? randomUUID();
    const properties: Options.Publish = {
      messageId,
      contentType,
      persistent: options.persistent ?? true,
      timestamp: Math.floor(Date.now() / 1000),
      headers: { ...(options.headers ?? {}) },
      ...(options.correlationId !== undefined ? { correlationId: options.correlationId } : {}),
      ...(options.priority !== undefined ? { priority: options.priority } : {}),
      ...(options.expiration !== undefined ? { expiration: String(options.expiration) } : {}),
    };
    const timeoutMs = this.#options.publishTimeoutMs ?? 30_000;
    const deadline = new Deadline(
      timeoutMs,
      () => new BrokerUnreachableError(`${unreachableHint(this.#urls)} (publish to "${queue}" not confirmed within ${timeoutMs} ms)`),
    );
    try {
      if (delayMs !== undefined) {
        await this.#delays.send(queue, delayMs, body, properties, deadline);
        return messageId;
      }
      const outcome = await this.#link.publish('', queue, body, properties, deadline);
      if (outcome === 'returned') throw unroutable(queue);
      return messageId;
    } finally {
      deadline.clear();
    }
  }

  /** Waits (up to 5 s, also under an alarm) for outstanding confirms, then closes. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closing.signal.aborted) this.#closing.abort(new RabbitWorkerError(ErrorCode.PUBLISHER_CLOSED, 'publisher closed'));
    await this.#link.close();
  }
}
