import { randomUUID } from 'node:crypto';
import type { ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';
import { ErrorCode, RabbitWorkerError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { connect } from './connection.js';
import { parseUrls } from './url.js';

export interface PublisherOptions {
  /** Broker URL(s), comma-separated for a cluster. @default process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672' */
  url?: string;
  /** Connection attempts before `publish()` rejects with BROKER_UNREACHABLE. @default 5 */
  connectAttempts?: number;
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
}

/** Buffers go as they are; anything else as JSON. */
function encode(payload: unknown): { body: Buffer; contentType: string } {
  if (Buffer.isBuffer(payload)) return { body: payload, contentType: 'application/octet-stream' };
  if (payload instanceof Uint8Array) return { body: Buffer.from(payload), contentType: 'application/octet-stream' };
  const json = JSON.stringify(payload);
  if (json === undefined) throw new TypeError('publish(): payload cannot be encoded as JSON');
  return { body: Buffer.from(json), contentType: 'application/json' };
}

/**
 * The application's side: publishes messages for workers, persistently, and resolves only once the broker
 * confirmed. Publishing to a queue that does not exist rejects (PUBLISH_UNROUTABLE): it is never a silent
 * drop. Connects on first use; reconnects on the next publish after a connection loss.
 *
 * ```ts
 * const publisher = new Publisher({ url: process.env.AMQP_URL });
 * await publisher.publish('resize-image', { id: 42 });
 * await publisher.close();
 * ```
 */
export class Publisher {
  readonly #options: PublisherOptions;
  #connecting: Promise<{ connection: ChannelModel; channel: ConfirmChannel }> | undefined;
  readonly #returned = new Set<string>();
  #closed = false;

  constructor(options: PublisherOptions = {}) {
    this.#options = options;
  }

  /** Publishes `payload` to `queue` through the default exchange; resolves with the message id once confirmed. */
  async publish(queue: string, payload: unknown, options: PublishOptions = {}): Promise<string> {
    if (this.#closed) throw new RabbitWorkerError(ErrorCode.PUBLISHER_CLOSED, 'publish() after close()');
    const { body, contentType } = encode(payload);
    const messageId = options.messageId ?? randomUUID();
    const { channel } = await this.#channel();
    const publishOptions: Options.Publish = {
      messageId,
      contentType,
      persistent: options.persistent ?? true,
      mandatory: true,
      timestamp: Math.floor(Date.now() / 1000),
      headers: options.headers ?? {},
      ...(options.correlationId !== undefined ? { correlationId: options.correlationId } : {}),
      ...(options.priority !== undefined ? { priority: options.priority } : {}),
      ...(options.expiration !== undefined ? { expiration: String(options.expiration) } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const settle = (error: unknown): void => {
        // A mandatory message that no queue took comes back (basic.return) before its confirm.
        const returned = this.#returned.delete(messageId);
        if (error) reject(new RabbitWorkerError(ErrorCode.PUBLISH_REFUSED, `the broker refused the message for queue "${queue}"`, { cause: error }));
        else if (returned) reject(new RabbitWorkerError(ErrorCode.PUBLISH_UNROUTABLE, `queue "${queue}" does not exist: the message was not delivered`));
        else resolve();
      };
      try {
        channel.publish('', queue, body, publishOptions, settle);
      } catch (error) {
        this.#connecting = undefined;
        reject(error);
      }
    });
    return messageId;
  }

  /** Waits for outstanding confirms, then closes. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const connecting = this.#connecting;
    this.#connecting = undefined;
    if (connecting === undefined) return;
    const { connection, channel } = await connecting.catch(() => ({ connection: undefined, channel: undefined }));
    await channel?.waitForConfirms().catch(() => {});
    await connection?.close().catch(() => {});
  }

  #channel(): Promise<{ connection: ChannelModel; channel: ConfirmChannel }> {
    this.#connecting ??= (async () => {
      const connection = await connect({
        urls: parseUrls(this.#options.url),
        attempts: this.#options.connectAttempts ?? 5,
        name: `rabbit-worker publisher pid ${process.pid}`,
        ...(this.#options.logger !== undefined ? { logger: this.#options.logger } : {}),
      });
      const channel = await connection.createConfirmChannel();
      const forget = (): void => {
        this.#connecting = undefined;
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
    const connecting = this.#connecting;
    connecting.catch(() => {
      if (this.#connecting === connecting) this.#connecting = undefined;
    });
    return connecting;
  }
}
