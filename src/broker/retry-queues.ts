import type { ChannelModel } from 'amqplib';
import type { QueueType } from './topology.js';

/** `<queue>.retry.<ms>`: where a message waits `ms` before going back to `<queue>`. */
export const retryQueueName = (queue: string, delayMs: number): string => `${queue}.retry.${delayMs}`;

/**
 * A retry queue holds messages until their TTL expires, then dead-letters them back to the work queue.
 * Quorum retry queues dead-letter at least once (`dead-letter-strategy`, which requires `reject-publish`).
 */
export function retryQueueArguments(queue: string, queueType: QueueType): Record<string, unknown> {
  const args: Record<string, unknown> = { 'x-queue-type': queueType, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue };
  if (queueType === 'quorum') Object.assign(args, { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' });
  return args;
}

/** Declares retry queues on demand, once each, on a channel of its own (a failed declaration closes it). */
export class RetryQueues {
  readonly #declared = new Map<number, Promise<string>>();

  constructor(
    private readonly connection: ChannelModel,
    private readonly queue: string,
    private readonly queueType: QueueType,
  ) {}

  /** The retry queue for `delayMs`, declared if needed. */
  ensure(delayMs: number): Promise<string> {
    let declared = this.#declared.get(delayMs);
    if (declared === undefined) {
      declared = this.#declare(delayMs);
      this.#declared.set(delayMs, declared);
      declared.catch(() => this.#declared.delete(delayMs));
    }
    return declared;
  }

  async #declare(delayMs: number): Promise<string> {
    const name = retryQueueName(this.queue, delayMs);
    const channel = await this.connection.createChannel();
    channel.on('error', () => {});
    try {
      await channel.assertQueue(name, { durable: true, arguments: retryQueueArguments(this.queue, this.queueType) });
      return name;
    } finally {
      await channel.close().catch(() => {});
    }
  }
}
