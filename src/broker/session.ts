import type { ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { AckBatcher } from './ack-batcher.js';

/**
 * One connection and the confirm channel a worker consumes, acks and dead-letters on. Everything tied to
 * a delivery tag goes through the session that received it: after the channel closes, its session
 * refuses every settle, so no ack can reach a newer channel.
 */
export class BrokerSession {
  readonly connection: ChannelModel;
  readonly channel: ConfirmChannel;
  readonly acks: AckBatcher;
  #closed = false;
  #consumerTag: string | undefined;
  #queue: string | undefined;

  private constructor(connection: ChannelModel, channel: ConfirmChannel) {
    this.connection = connection;
    this.channel = channel;
    this.acks = new AckBatcher(channel);
    channel.on('close', () => {
      this.#closed = true;
      this.acks.close();
    });
  }

  static async open(connection: ChannelModel, prefetch: number): Promise<BrokerSession> {
    const channel = await connection.createConfirmChannel();
    await channel.prefetch(prefetch);
    return new BrokerSession(connection, channel);
  }

  get closed(): boolean {
    return this.#closed;
  }

  async consume(queue: string, onMessage: (message: ConsumeMessage) => void, onCancel: () => void): Promise<void> {
    const reply = await this.channel.consume(queue, (message) => {
      if (message === null) onCancel();
      else {
        this.acks.track(message.fields.deliveryTag);
        onMessage(message);
      }
    });
    this.#consumerTag = reply.consumerTag;
    this.#queue = queue;
  }

  /** Stops deliveries; those already received stay ours to settle. */
  async cancel(): Promise<void> {
    const tag = this.#consumerTag;
    this.#consumerTag = undefined;
    if (tag === undefined || this.#closed) return;
    await this.channel.cancel(tag).catch(() => {});
  }

  /** Publishes to a queue through the default exchange and resolves once the broker confirmed it. */
  publishConfirmed(queue: string, body: Buffer, options: Options.Publish): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        this.channel.publish('', queue, body, options, (error) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve()));
      } catch (error) {
        reject(error);
      }
    });
  }

  /** Flushes pending acks, then closes the channel and the connection; each step guarded on its own. */
  async close(): Promise<void> {
    this.acks.flush();
    // One round trip after the last acks: on RabbitMQ 3.10 quorum queues, acks still in flight when the
    // channel closes were seen to be dropped, their messages redelivered (duplicates).
    if (!this.#closed && this.#queue !== undefined) await this.channel.checkQueue(this.#queue).catch(() => {});
    if (!this.#closed) await this.channel.close().catch(() => {});
    this.#closed = true;
    this.acks.close();
    await this.connection.close().catch(() => {});
  }
}
