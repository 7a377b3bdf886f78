import type { DeadLetterReason } from '../metrics/names.js';

/**
 * How a worker answers `publisher.request()`: through RabbitMQ's direct reply-to. The requester consumes
 * the pseudo-queue `amq.rabbitmq.reply-to` (no ack) and publishes the request on that same channel with
 * `replyTo: 'amq.rabbitmq.reply-to'` (the broker rewrites it into an address of that channel) and a
 * `correlationId`. The worker publishes its reply to the default exchange with `replyTo` as the routing
 * key and the same `correlationId`. No queue, no result store: a reply whose requester is gone is dropped.
 */
export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';

/** On a reply: `ok` (the body is the callback's value), or `error` (the request was dead-lettered; the body is a {@link ReplyError}). */
export const REPLY_STATUS_HEADER = 'x-rabbit-worker-reply';

export type ReplyStatus = 'ok' | 'error';

/** The body of an error reply: why the request was dead-lettered. */
export interface ReplyError {
  reason: string;
  cause: DeadLetterReason;
}

/** The properties of a reply to the request with `correlationId`. */
export function replyProperties(correlationId: string, status: ReplyStatus, binary: boolean, messageId: string): Record<string, unknown> {
  return {
    correlationId,
    messageId,
    contentType: binary ? 'application/octet-stream' : 'application/json',
    headers: { [REPLY_STATUS_HEADER]: status },
    // a reply lives as long as its requester's channel: nothing to keep on disk
    persistent: false,
  };
}
