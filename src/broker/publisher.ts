import { randomUUID } from 'node:crypto';
import type { ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';
import { BrokerUnreachableError, ErrorCode, RabbitWorkerError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { QueueType } from './topology.js';
import { connect, sleep, unreachableHint } from './connection.js';
import { retryQueueArguments, retryQueueName } from './retry-queues.js';
import { parseUrls } from './url.js';

export interface PublisherOptions {
  /** Broker URL(s), comma-separated for a cluster. @default process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672' */
  url?: string;
  /**
   * How long `publish()` may wait for the broker when it is away (connecting, reconnecting, retrying after
   * a connection lost before the confirm). Past it, `publish()` rejects: a message never vanishes silently.
   * @default 30000
   */
  publishTimeoutMs?: number;
  /** Type of the delay queues that `delayMs` creates, when the worker has not declared them. @default 'quorum' */
  queueType?: QueueType;
  logger?: Logger;
}

export interface PublishOptions {
  /** @default a random UUID; the worker sees it as `message.messageId`, the key for idempotent callbacks */
  messageId?: string;
  headers?: Record<string, unknown>;
  correlationId?: string;
  priority?: number;
  /** Per-message TTL in ms. */
  expiration?: number;
  /** Survives a broker restart. @default true */
  persistent?: boolean;
  /** Deliver after this many ms, through `<queue>.retry.<delayMs>` (no plugin needed). */
  delayMs?: number;
}

interface Link {
  connection: ChannelModel;
  channel: ConfirmChannel;
}

/** Buffers go as they are; anything else as JSON. */
function encode(payload: unknown): { body: Buffer; contentType: string } {
  if (Buffer.isBuffer(payload)) return { body: payload, contentType: 'application/octet-stream' };
  if (payload instanceof Uint8Array) return { body: Buffer.from(payload), contentType: 'application/octet-stream' };
  const json = JSON.stringify(payload);
  if (json === undefined) throw new TypeError('publish(): payload cannot be encoded as JSON');
  return { body: Buffer.from(json), contentType: 'application/json' };
}

/** The broker answered (refused or returned the message): retrying cannot help. */
const isAnswer = (error: unknown): boolean => {
  const code = (error as { code?: unknown }).code;
  return code === ErrorCode.PUBLISH_UNROUTABLE || code === ErrorCode.PUBLISH_REFUSED;
};

/**
 * The application's side: publishes messages for workers, persistently, and resolves only once the broker
 * confirmed. Publishing to a queue that does not exist rejects (PUBLISH_UNROUTABLE): it is never a silent
 * drop. While the broker is away, `publish()` waits (reconnecting, up to `publishTimeoutMs`) and then
 * rejects; a publish whose connection died before the confirm is sent again (at least once).
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
  #link: Promise<Link> | undefined;
  readonly #returned = new Set<string>();
  readonly #delayQueues = new Map<string, Promise<void>>();
  readonly #closing = new AbortController();
  #closed = false;

  constructor(options: PublisherOptions = {}) {
    this.#options = options;
    this.#urls = parseUrls(options.url);
  }

  /** Publishes `payload` to `queue` through the default exchange; resolves with the message id once confirmed. */
  async publish(queue: string, payload: unknown, options: PublishOptions = {}): Promise<string> {
    if (this.#closed) throw new RabbitWorkerError(ErrorCode.PUBLISHER_CLOSED, 'publish() after close()');
    const { delayMs } = options;
    if (delayMs !== undefined && (!Number.isInteger(delayMs) || delayMs < 1)) throw new RangeError(`publish(): delayMs must be a positive integer, got ${delayMs}`);
    const { body, contentType } = encode(payload);
    const messageId = options.messageId ?? randomUUID();
    const properties: Options.Publish = {
      messageId,
      contentType,
      persistent: options.persistent ?? true,
      mandatory: true,
      timestamp: Math.floor(Date.now() / 1000),
      headers: options.headers ?? {},
      ...(options.correlationId !== undefined ? { correlationId: options.correlationId } : {}),
      ...(options.priority !== undefined ? { priority: options.priority } : {}),
      ...(delayMs !== undefined ? { expiration: String(delayMs) } : options.expiration !== undefined ? { expiration: String(options.expiration) } : {}),
    };
    const deadline = Date.now() + (this.#options.publishTimeoutMs ?? 30_000);
    let delay = 200;
    for (;;) {
      try {
        const link = await this.#connected(deadline);
        const target = delayMs === undefined ? queue : await this.#delayQueue(link, queue, delayMs);
        await this.#send(link.channel, target, body, properties, queue);
        return messageId;
      } catch (error) {
        if (isAnswer(error) || this.#closed || Date.now() + delay >= deadline) throw this.#final(error, queue);
        this.#options.logger?.warn(`publish to "${queue}" interrupted (${(error as Error).message}); retrying`, { messageId });
        await sleep(delay, this.#closing.signal).catch(() => {});
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** Waits for outstanding confirms, then closes. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort(new Error('publisher closed'));
    const link = this.#link;
    this.#link = undefined;
    if (link === undefined) return;
    const open = await link.catch(() => undefined);
    await open?.channel.waitForConfirms().catch(() => {});
    await open?.connection.close().catch(() => {});
  }

  #send(channel: ConfirmChannel, target: string, body: Buffer, properties: Options.Publish, queue: string): Promise<void> {
    const messageId = properties.messageId as string;
    return new Promise<void>((resolve, reject) => {
      const settle = (error: unknown): void => {
        // A mandatory message that no queue took comes back (basic.return) before its confirm.
        const returned = this.#returned.delete(messageId);
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else if (returned) reject(new RabbitWorkerError(ErrorCode.PUBLISH_UNROUTABLE, `queue "${queue}" does not exist: the message was not delivered`));
        else resolve();
      };
      try {
        channel.publish('', target, body, properties, settle);
      } catch (error) {
        this.#link = undefined;
        reject(error);
      }
    });
  }

  /** The work queue must exist (or the delayed message would expire into nothing); its delay queue is declared once. */
  async #delayQueue(link: Link, queue: string, delayMs: number): Promise<string> {
    const name = retryQueueName(queue, delayMs);
    let ready = this.#delayQueues.get(name);
    if (ready === undefined) {
      ready = (async () => {
        const channel = await link.connection.createChannel();
        channel.on('error', () => {});
        try {
          await channel.checkQueue(queue).catch((error: unknown) => {
            throw new RabbitWorkerError(ErrorCode.PUBLISH_UNROUTABLE, `queue "${queue}" does not exist: the message was not delivered`, { cause: error });
          });
          const exists = await channel.checkQueue(name).then(() => true, () => false);
          if (!exists) {
            const declaring = await link.connection.createChannel();
            declaring.on('error', () => {});
            await declaring.assertQueue(name, { durable: true, arguments: retryQueueArguments(queue, this.#options.queueType ?? 'quorum') });
            await declaring.close().catch(() => {});
          }
        } finally {
          await channel.close().catch(() => {});
        }
      })();
      this.#delayQueues.set(name, ready);
      ready.catch(() => this.#delayQueues.delete(name));
    }
    await ready;
    return name;
  }

  #final(error: unknown, queue: string): Error {
    if (isAnswer(error) || (error as { code?: unknown }).code === ErrorCode.BROKER_UNREACHABLE) return error as Error;
    if (this.#closed) return new RabbitWorkerError(ErrorCode.PUBLISHER_CLOSED, 'publisher closed before the broker confirmed the message', { cause: error });
    return new BrokerUnreachableError(`${unreachableHint(this.#urls)} (publish to "${queue}" not confirmed within ${this.#options.publishTimeoutMs ?? 30_000} ms)`, { cause: error });
  }

  #connected(deadline: number): Promise<Link> {
    this.#link ??= (async () => {
      const signal = AbortSignal.any([this.#closing.signal, AbortSignal.timeout(Math.max(1, deadline - Date.now()))]);
      const connection = await connect({
        urls: this.#urls,
        attempts: 1000,
        name: `rabbit-worker publisher pid ${process.pid}`,
        signal,
        ...(this.#options.logger !== undefined ? { logger: this.#options.logger } : {}),
      }).catch((error: unknown) => {
        throw (error as { code?: unknown }).code === undefined || (error as Error).name === 'TimeoutError'
          ? new BrokerUnreachableError(`${unreachableHint(this.#urls)} (no connection within the publish timeout)`, { cause: error })
          : error;
      });
      const channel = await connection.createConfirmChannel();
      const forget = (): void => {
        if (this.#link === current) this.#link = undefined;
        this.#delayQueues.clear();
      };
      connection.on('error', () => {});
      connection.on('close', forget);
      channel.on('error', () => {});
      channel.on('close', forget);
      channel.on('return', (message: Message) => {
        const id = message.properties.messageId;
        if (typeof id === 'string') this.#returned.add(id);
      });
      return { connection, channel };
    })();
    const current = this.#link;
    current.catch(() => {
      if (this.#link === current) this.#link = undefined;
    });
    return current;
  }
}
