import type { Channel, ChannelModel } from 'amqplib';

/**
 * Passive declares (`checkQueue`) on a channel of their own: a queue that does not exist gives undefined
 * (its 404 closes the channel; the next check opens another) and is never created.
 */
export class QueueProbe {
  #channel: Promise<Channel> | undefined;

  constructor(private readonly connection: ChannelModel) {}

  async check(queue: string): Promise<{ messageCount: number; consumerCount: number } | undefined> {
    const channel = await (this.#channel ??= this.#open());
    try {
      return await channel.checkQueue(queue);
    } catch (error) {
      this.#channel = undefined;
      if ((error as { code?: unknown }).code === 404) return undefined;
      throw error;
    }
  }

  async close(): Promise<void> {
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel !== undefined) await (await channel).close().catch(() => {});
  }

  async #open(): Promise<Channel> {
    const channel = await this.connection.createChannel();
    channel.on('error', () => {});
    return channel;
  }
}
