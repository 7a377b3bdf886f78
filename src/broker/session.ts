import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { Deadline, raceDeadline } from '../deadline.js';
import { AckBatcher } from './ack-batcher.js';
import { destroyConnection } from './destroy.js';

/**
 * One connection and the channel a worker consumes and acks on (copies are published on a connection of
 * their own, see ConfirmLink). Everything tied to a delivery tag goes through the session that received
 * it: after the channel closes, its session refuses every settle, so no ack can reach a newer channel.
 */
export class BrokerSession {
  readonly connection: ChannelModel;
  readonly channel: Channel;
  readonly acks: AckBatcher;
  #closed = false;
  #consumerTag: string | undefined;
  #queue: string | undefined;
  #onClose: Array<(error?: Error) => void> = [];

  private constructor(connection: ChannelModel, channel: Channel) {
    this.connection = connection;
    this.channel = channel;
    this.acks = new AckBatcher(channel);
    let error: Error | undefined;
    channel.on('error', (e: Error) => (error = e));
    channel.on('close', () => {
      this.#closed = true;
      this.acks.close();
      this.#onClose.splice(0).forEach((listener) => listener(error));
    });
  }

  static async open(connection: ChannelModel, prefetch: number): Promise<BrokerSession> {
    const channel = await connection.createChannel();
    await channel.prefetch(prefetch);
    return new BrokerSession(connection, channel);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Called once when the channel closes, with the error the broker gave (e.g. 406 for consumer_timeout). */
  onClose(listener: (error?: Error) => void): void {
    if (this.#closed) listener();
    else this.#onClose.push(listener);
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

  /** Stops deliveries; those already received stay ours to settle. Bounded by `deadline`. */
  async cancel(deadline?: Deadline): Promise<void> {
    const tag = this.#consumerTag;
    this.#consumerTag = undefined;
    if (tag === undefined || this.#closed) return;
    const cancelled = this.channel.cancel(tag).then(() => undefined);
    await (deadline === undefined ? cancelled : raceDeadline(cancelled, deadline)).catch(() => {});
  }

  /**
   * Flushes pending acks, then closes the channel and the connection, each step guarded on its own and the
   * whole bounded by `deadline`: when the broker does not answer (a dead node, an alarm), the socket is
   * destroyed and the broker requeues what was unacked.
   */
  async close(deadline: Deadline): Promise<void> {
    this.acks.flush();
    try {
      // One round trip after the last acks: on RabbitMQ 3.10 quorum queues, acks still in flight when the
      // channel closes were seen to be dropped, their messages redelivered (duplicates).
      if (!this.#closed && this.#queue !== undefined) await raceDeadline(this.channel.checkQueue(this.#queue), deadline).catch(() => {});
      if (!this.#closed) await raceDeadline(this.channel.close(), deadline).catch(() => {});
      this.#closed = true;
      this.acks.close();
      await raceDeadline(this.connection.close(), deadline);
    } catch {
      destroyConnection(this.connection);
    }
  }
}
