import type { Channel, ChannelModel } from 'amqplib';
import { ErrorCode, RabbitWorkerError } from '../errors.js';
import { bindDelayDelivery } from './delay-topology.js';

/** `quorum` (replicated, counts deliveries; the default) or `classic`. */
export type QueueType = 'quorum' | 'classic';

/** The queue that rejected messages go to. */
export const deadLetterQueueName = (queue: string): string => `${queue}.dlq`;

/** How a work queue is declared, beyond its name. */
export interface WorkQueueShape {
  queueType: QueueType;
  /** `x-max-priority` (classic queues); 0 or undefined = none. */
  maxPriority?: number;
}

/** The arguments rabbit-worker declares a work queue with. */
export function workQueueArguments(queue: string, shape: WorkQueueShape | QueueType): Record<string, unknown> {
  const { queueType, maxPriority } = typeof shape === 'string' ? { queueType: shape, maxPriority: 0 } : shape;
  return {
    'x-queue-type': queueType,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': deadLetterQueueName(queue),
    ...(maxPriority !== undefined && maxPriority > 0 ? { 'x-max-priority': maxPriority } : {}),
  };
}

/** What to change so that the declaration matches the queue that exists, from RabbitMQ's own words. */
function mismatchHint(detail: string): string {
  if (detail.includes("'x-max-priority'")) return 'set maxPriority to match it (0 when the queue has none), or delete the queue and let the worker declare it again';
  return 'set queueType to match it, or delete the queue';
}

/**
 * Declares the work queue and its dead-letter queue, both durable, and binds the work queue to the delay
 * topology's delivery exchange (retries and delayed messages come back that way). A queue that already
 * exists with other arguments throws a TOPOLOGY_MISMATCH error naming the difference (RabbitMQ's own words)
 * and how to fix it. Runs on a channel of its own, since a failed declaration closes the channel.
 */
export async function declareWorkQueue(connection: ChannelModel, queue: string, shape: WorkQueueShape | QueueType): Promise<void> {
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  try {
    await assertWorkQueue(channel, queue, shape);
  } finally {
    await channel.close().catch(() => {});
  }
}

/** {@link declareWorkQueue} on a channel the caller owns (a failed declaration closes it). */
export async function assertWorkQueue(channel: Channel, queue: string, shape: WorkQueueShape | QueueType): Promise<void> {
  const queueType = typeof shape === 'string' ? shape : shape.queueType;
  for (const [name, args] of [
    [deadLetterQueueName(queue), { 'x-queue-type': queueType }],
    [queue, workQueueArguments(queue, shape)],
  ] as const) {
    try {
      await channel.assertQueue(name, { durable: true, arguments: args });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 406) throw error;
      const detail = String((error as Error).message).replace(/^.*PRECONDITION_FAILED - /, '').replace(/"$/, '');
      throw new RabbitWorkerError(
        ErrorCode.TOPOLOGY_MISMATCH,
        `queue "${name}" already exists with other arguments (${detail}); ${mismatchHint(detail)}`,
        { cause: error },
      );
    }
  }
  await bindDelayDelivery(channel, queue);
}
