import type { ConsumeMessage, MessagePropertyHeaders } from 'amqplib';
import { isDelayExchange } from '../broker/delay-topology.js';
import type { QueueType } from '../broker/topology.js';

/** Header in which rabbit-worker carries the attempts a message already had when it publishes a copy of it. */
export const ATTEMPTS_HEADER = 'x-rabbit-worker-attempts';
/** Set on a copy of a message that was in flight when its isolate died beside others: it runs alone from then on. */
export const SUSPECT_HEADER = 'x-rabbit-worker-suspect';

/** What the consumer needs to know about a delivery before running it. */
export interface Assessment {
  /** 1 on the first delivery; see {@link assess}. */
  attempt: number;
  /** A copy marked suspect by rabbit-worker: it runs apart, one at a time. */
  suspect: boolean;
  /**
   * A classic queue redelivered it (its process or connection died holding it) and counts nothing itself:
   * the count must be carried in a copy.
   */
  recount: boolean;
  /** The markers came from rabbit-worker's own copy (through its exchanges), so they were believed. */
  trusted: boolean;
}

const count = (headers: MessagePropertyHeaders, name: string): number => {
  const value = Number(headers[name] ?? 0);
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
};

/**
 * What counts as an attempt, in one place. `attempt` is the number of deliveries of this message whose
 * callback started or whose process died holding it, this one included:
 * - attempts that moved the message to a copy (a retry, a recount, a suspect requeue) are carried in
 *   {@link ATTEMPTS_HEADER} — believed only when the copy came through rabbit-worker's own exchanges (the
 *   delay topology), never from a publisher (docs/operations.md: the trust boundary);
 * - returns of this copy: on a quorum queue the broker's `x-delivery-count`, believed only on a redelivery
 *   (a publisher can set the header, and the broker only overwrites it when it redelivers); on a classic queue
 *   the `redelivered` flag, one more;
 * - a worker starts every delivery when it arrives (nothing waits unstarted behind a prefetch, except
 *   suspects behind one another), so a delivery returned by a connection loss is one whose callback started:
 *   counted in every process alike.
 */
export function assess(message: ConsumeMessage, queueType: QueueType): Assessment {
  const headers: MessagePropertyHeaders = message.properties.headers ?? {};
  const trusted = isDelayExchange(message.fields.exchange);
  const carried = trusted ? count(headers, ATTEMPTS_HEADER) : 0;
  const suspect = trusted && headers[SUSPECT_HEADER] === true;
  const redelivered = message.fields.redelivered;
  if (queueType === 'quorum') {
    return { attempt: carried + 1 + (redelivered ? count(headers, 'x-delivery-count') : 0), suspect, recount: false, trusted };
  }
  return { attempt: carried + 1 + (redelivered ? 1 : 0), suspect, recount: redelivered, trusted };
}
