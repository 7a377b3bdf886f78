import type { Options } from 'amqplib';
import type { RetryQueues } from '../broker/retry-queues.js';
import { deadLetterQueueName } from '../broker/topology.js';
import type { ErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ATTEMPTS_HEADER, SUSPECT_HEADER, type Delivery } from './delivery.js';
import type { QueueType, WorkerSettings } from './options.js';
import { jittered, retryDelayFor } from './retry-schedule.js';
import type { Settlement } from './settlement.js';

/** Headers that say why a message is in `<queue>.dlq`. */
export const DeadLetterHeader = {
  reason: 'x-rabbit-worker-reason',
  queue: 'x-rabbit-worker-queue',
  worker: 'x-rabbit-worker-worker',
  attempts: ATTEMPTS_HEADER,
  failedAt: 'x-rabbit-worker-failed-at',
  firstFailedAt: 'x-rabbit-worker-first-failed-at',
  error: 'x-rabbit-worker-error',
  stack: 'x-rabbit-worker-stack',
} as const;

export interface SettleContext {
  queue: string;
  queueType: QueueType;
  worker: string;
  logger: Logger;
  settings: Pick<WorkerSettings, 'retryDelayMs' | 'retryBackoff' | 'retryMaxDelayMs'>;
  /** The retry queues of the current connection. */
  retryQueues: () => RetryQueues | undefined;
}

/** Failure headers carried from attempt to attempt, so that the dead letter says when it all began. */
function failureHeaders(delivery: Delivery, failure: ErrorInfo | undefined): Record<string, unknown> {
  const now = new Date().toISOString();
  const headers: Record<string, unknown> = {
    [DeadLetterHeader.attempts]: delivery.data.attempt,
    [DeadLetterHeader.failedAt]: now,
    [DeadLetterHeader.firstFailedAt]: delivery.data.properties.headers[DeadLetterHeader.firstFailedAt] ?? now,
  };
  if (failure !== undefined) {
    headers[DeadLetterHeader.error] = clip(`${failure.name}: ${failure.message}`, 1024);
    if (failure.stack !== undefined) headers[DeadLetterHeader.stack] = clip(failure.stack);
  }
  return headers;
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
    case 'retry': {
      const delay = settlement.delayMs ?? retryDelayFor(delivery.data.attempt, context.settings);
      const retryQueues = context.retryQueues();
      if (delay <= 0 || retryQueues === undefined) return settleAtBroker(delivery, { kind: 'nack' }, context, failure);
      let target: string;
      try {
        target = await retryQueues.ensure(delay);
      } catch (error) {
        context.logger.error(`cannot declare the retry queue for ${delay} ms (${(error as Error).message}); message nacked instead`);
        return settleAtBroker(delivery, { kind: 'nack' }, context, failure);
      }
      const expiration = String(jittered(delay));
      return copyThenAck(delivery, target, failureHeaders(delivery, failure), context, 'retry', expiration);
    }
    case 'reject': {
      const headers: Record<string, unknown> = {
        ...failureHeaders(delivery, failure),
        [DeadLetterHeader.reason]: clip(settlement.reason, 1024),
        [DeadLetterHeader.queue]: context.queue,
        [DeadLetterHeader.worker]: context.worker,
      };
      context.logger.warn(`message dead-lettered to ${deadLetterQueueName(context.queue)}: ${settlement.reason}`, {
        messageId: delivery.data.properties.messageId,
        attempt: delivery.data.attempt,
      });
      return copyThenAck(delivery, deadLetterQueueName(context.queue), headers, context, 'dead-letter');
    }
  }
}

/**
 * On a classic queue a redelivered message (its process died, or its channel) carries no count: publish
 * a copy that counts this delivery, ack the original, and let the copy be handled when it comes round.
 */
export function recountRedelivery(delivery: Delivery, context: SettleContext): Promise<void> {
  return copyThenAck(delivery, context.queue, { [ATTEMPTS_HEADER]: delivery.data.attempt - 1 }, context, 'count');
}

/**
 * The message was in flight when its isolate died beside others, so it may be innocent: requeue a copy
 * marked as suspect (it will run alone, wherever it is delivered) that does not count this attempt.
 */
export function requeueAsSuspect(delivery: Delivery, context: SettleContext): Promise<void> {
  return copyThenAck(delivery, context.queue, { [ATTEMPTS_HEADER]: delivery.data.attempt - 1, [SUSPECT_HEADER]: true }, context, 'requeue');
}

async function copyThenAck(delivery: Delivery, target: string, headers: Record<string, unknown>, context: SettleContext, what: string, expiration?: string): Promise<void> {
  try {
    const options = republishOptions(delivery, headers);
    // the copy is a new message: its TTL is the retry delay, never an expiration it carried before
    if (expiration === undefined) delete options.expiration;
    else options.expiration = expiration;
    await delivery.session.publishConfirmed(target, delivery.message.content, options);
    delivery.session.acks.ack(delivery.tag);
  } catch (error) {
    // The copy may not exist: leave the original with the broker.
    context.logger.error(`could not ${what} the message (${(error as Error).message}); it goes back to the queue`, {
      messageId: delivery.data.properties.messageId,
    });
    delivery.session.acks.nack(delivery.tag, true);
  }
}
