import type { Options } from 'amqplib';
import { deadLetterQueueName } from '../broker/topology.js';
import type { ErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ATTEMPTS_HEADER, type Delivery } from './delivery.js';
import type { QueueType } from './options.js';
import type { Settlement } from './settlement.js';

/** Headers that say why a message is in `<queue>.dlq`. */
export const DeadLetterHeader = {
  reason: 'x-rabbit-worker-reason',
  queue: 'x-rabbit-worker-queue',
  worker: 'x-rabbit-worker-worker',
  attempts: ATTEMPTS_HEADER,
  failedAt: 'x-rabbit-worker-failed-at',
  error: 'x-rabbit-worker-error',
  stack: 'x-rabbit-worker-stack',
} as const;

export interface SettleContext {
  queue: string;
  queueType: QueueType;
  worker: string;
  logger: Logger;
}

// Headers are capped at 64 KiB per message by amqplib; a stack never needs more than a few.
const clip = (text: string, max = 4096): string => (text.length > max ? `${text.slice(0, max)}…` : text);

function republishOptions(delivery: Delivery, headers: Record<string, unknown>): Options.Publish {
  const p = delivery.message.properties;
  return {
    ...(p as Options.Publish),
    headers: { ...(p.headers ?? {}), ...headers },
    persistent: true,
    mandatory: true,
  };
}

/**
 * Carries out a settlement on the broker, at least once: a reject publishes a copy to `<queue>.dlq`
 * with the reason in its headers and acks the original only after the broker confirmed the copy; a nack
 * on a classic queue republishes with the attempt counted (classic queues count nothing themselves).
 * If the channel is gone nothing is sent: the broker has already requeued the message.
 */
export async function settleAtBroker(delivery: Delivery, settlement: Settlement, context: SettleContext, failure?: ErrorInfo): Promise<void> {
  const { session } = delivery;
  if (session.closed) {
    context.logger.debug('channel closed before settling; the broker redelivers the message', { messageId: delivery.data.properties.messageId });
    return;
  }
  switch (settlement.kind) {
    case 'ack':
      session.acks.ack(delivery.tag);
      return;
    case 'nack':
      if (context.queueType === 'quorum') {
        session.acks.nack(delivery.tag, true);
        return;
      }
      return copyThenAck(delivery, context.queue, { [ATTEMPTS_HEADER]: delivery.data.attempt }, context, 'requeue');
    case 'reject': {
      const headers: Record<string, unknown> = {
        [DeadLetterHeader.reason]: clip(settlement.reason, 1024),
        [DeadLetterHeader.queue]: context.queue,
        [DeadLetterHeader.worker]: context.worker,
        [DeadLetterHeader.attempts]: delivery.data.attempt,
        [DeadLetterHeader.failedAt]: new Date().toISOString(),
      };
      if (failure !== undefined) {
        headers[DeadLetterHeader.error] = clip(`${failure.name}: ${failure.message}`, 1024);
        if (failure.stack !== undefined) headers[DeadLetterHeader.stack] = clip(failure.stack);
      }
      context.logger.warn(`message dead-lettered to ${deadLetterQueueName(context.queue)}: ${settlement.reason}`, {
        messageId: delivery.data.properties.messageId,
        attempt: delivery.data.attempt,
      });
      return copyThenAck(delivery, deadLetterQueueName(context.queue), headers, context, 'dead-letter');
    }
  }
}

async function copyThenAck(delivery: Delivery, target: string, headers: Record<string, unknown>, context: SettleContext, what: string): Promise<void> {
  try {
    await delivery.session.publishConfirmed(target, delivery.message.content, republishOptions(delivery, headers));
    delivery.session.acks.ack(delivery.tag);
  } catch (error) {
    // The copy may not exist: leave the original with the broker.
    context.logger.error(`could not ${what} the message (${(error as Error).message}); it goes back to the queue`, {
      messageId: delivery.data.properties.messageId,
    });
    delivery.session.acks.nack(delivery.tag, true);
  }
}
