import type { Options } from 'amqplib';
import { OWN_HEADER_PREFIX, withoutBrokerHeaders } from '../broker/reserved-headers.js';
import type { ErrorInfo } from '../errors.js';
import { ATTEMPTS_HEADER, SUSPECT_HEADER } from './attempt-policy.js';
import type { Delivery } from './delivery.js';

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
  /** On a dead letter whose own headers did not fit beside ours: the names of those left out. */
  droppedHeaders: 'x-rabbit-worker-dropped-headers',
} as const;

/** Caps of our own headers: together a few KiB, so that they fit beside almost any message's own. */
const MAX_REASON = 1024;
const MAX_ERROR = 1024;
const MAX_STACK = 4096;
const MAX_DROPPED = 2048;

export const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text);

/** Failure headers carried from attempt to attempt, so that the dead letter says when it all began. */
export function failureHeaders(delivery: Delivery, failure: ErrorInfo | undefined, now: Date, options: { lean?: boolean } = {}): Record<string, unknown> {
  const iso = now.toISOString();
  const first = delivery.assessment.trusted ? delivery.data.properties.headers[DeadLetterHeader.firstFailedAt] : undefined;
  const headers: Record<string, unknown> = {
    [DeadLetterHeader.attempts]: delivery.data.attempt,
    [DeadLetterHeader.failedAt]: iso,
    [DeadLetterHeader.firstFailedAt]: typeof first === 'string' ? first : iso,
  };
  if (failure !== undefined && options.lean !== true) {
    headers[DeadLetterHeader.error] = clip(`${failure.name}: ${failure.message}`, MAX_ERROR);
    if (failure.stack !== undefined) headers[DeadLetterHeader.stack] = clip(failure.stack, MAX_STACK);
  }
  return headers;
}

/** The headers of a dead letter: the failure's, and why, where, by whom. */
export function deadLetterHeaders(delivery: Delivery, reason: string, failure: ErrorInfo | undefined, context: { queue: string; worker: string }, now: Date): Record<string, unknown> {
  return {
    ...failureHeaders(delivery, failure, now),
    [DeadLetterHeader.reason]: clip(reason, MAX_REASON),
    [DeadLetterHeader.queue]: context.queue,
    [DeadLetterHeader.worker]: context.worker,
  };
}

/**
 * The properties of a copy: the original's, its headers without the broker's history (`x-delivery-count`,
 * `x-death`: a copy is a new message, and a stale count would be counted again) and without the markers of
 * an earlier copy, plus `ours`. No expiration: a copy's life is not the original's.
 */
export function copyProperties(delivery: Delivery, ours: Record<string, unknown>): Options.Publish {
  const { expiration: _expiration, headers: _headers, ...rest } = delivery.message.properties as Options.Publish & { headers?: Record<string, unknown> };
  const own = withoutBrokerHeaders(delivery.message.properties.headers as Record<string, unknown> | undefined);
  for (const name of Object.keys(own)) {
    // Our markers travel only from our own copies (a publisher's would become trusted here), and a suspect
    // mark only as long as the copy says so.
    if (name === SUSPECT_HEADER || (!delivery.assessment.trusted && name.startsWith(OWN_HEADER_PREFIX))) delete own[name];
  }
  return { ...rest, headers: { ...own, ...ours }, persistent: true };
}

/**
 * A copy that keeps the body and only our headers, for a message whose own headers leave no room for
 * ours: the names of the headers left out go in {@link DeadLetterHeader.droppedHeaders}.
 */
export function slimCopyProperties(delivery: Delivery, ours: Record<string, unknown>): Options.Publish {
  const { expiration: _expiration, headers: _headers, ...rest } = delivery.message.properties as Options.Publish & { headers?: Record<string, unknown> };
  // The application's headers (the broker's history and our own markers are not "its" headers).
  const own = withoutBrokerHeaders(delivery.message.properties.headers as Record<string, unknown> | undefined);
  const dropped = Object.keys(own).filter((name) => !name.startsWith(OWN_HEADER_PREFIX) && !(name in ours));
  return { ...rest, headers: { ...ours, [DeadLetterHeader.droppedHeaders]: clip(dropped.join(','), MAX_DROPPED) }, persistent: true };
}
