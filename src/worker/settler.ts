import { setMaxListeners } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Options } from 'amqplib';
import type { ConfirmLink, PublishOutcome } from '../broker/confirm-link.js';
import type { DelayedDelivery } from '../broker/delayed-delivery.js';
import { replyProperties, type ReplyError, type ReplyStatus } from '../broker/reply-protocol.js';
import { deadLetterQueueName, type QueueType } from '../broker/topology.js';
import { systemClock, type Clock } from '../clock.js';
import { Deadline } from '../deadline.js';
import { ErrorCode, type ErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { DeadLetterReason } from '../metrics/names.js';
import { ATTEMPTS_HEADER, SUSPECT_HEADER } from './attempt-policy.js';
import { copyProperties, deadLetterHeaders, failureHeaders, slimCopyProperties } from './copies.js';
import type { Delivery } from './delivery.js';
import type { WorkerSettings } from './options.js';
import { jittered, retryDelayFor } from './retry-schedule.js';
import type { Settlement } from './settlement.js';

/** How long a copy may wait for the broker (an alarm, an outage) before its original is given back instead. */
export const COPY_TIMEOUT_MS = 10 * 60_000;
/** How long an error reply (best effort: its request is dead-lettered already) may wait for the broker. */
const ERROR_REPLY_TIMEOUT_MS = 30_000;

/** A message that `publisher.request()` sent: someone waits for its reply. */
const isRequest = (delivery: Delivery): boolean => delivery.data.properties.replyTo !== undefined && delivery.data.properties.correlationId !== undefined;

export interface SettlerOptions {
  queue: string;
  queueType: QueueType;
  worker: string;
  logger: Logger;
  settings: Pick<WorkerSettings, 'maxAttempts' | 'retryDelayMs' | 'retryBackoff' | 'retryMaxDelayMs'>;
  /** The worker's publishing connection, apart from the one it consumes on. */
  copies: ConfirmLink;
  delays: DelayedDelivery;
  /** Declares the work queue and its dead-letter queue again (a dead letter came back: `.dlq` was deleted). */
  redeclare: (deadline: Deadline) => Promise<void>;
  /** Called once a settlement reached the broker, or was abandoned; with the final kind. */
  onSettled?: (delivery: Delivery, outcome: SettledOutcome) => void;
  clock?: Clock;
}

/** What finally happened to a message at the broker. */
export type SettledOutcome = 'ack' | 'requeue' | 'retry' | 'dead-letter' | 'lost-channel';

/** Why a copy is published back to the work queue through the delay topology's delivery exchange. */
type Requeue = 'suspect' | 'culprit' | 'uncounted' | 'recount' | 'nack';

/**
 * What each requeued copy carries: `counted`, the copy's next delivery is attempt n + 1 (this delivery was
 * an attempt), else n again (it was not its fault, or a recount only moves it to carry its count); and
 * `suspect`, it runs apart, in the quarantine lane.
 */
const REQUEUES: Record<Requeue, { counted: boolean; suspect: boolean }> = {
  suspect: { counted: false, suspect: true },
  culprit: { counted: true, suspect: true },
  uncounted: { counted: false, suspect: false },
  recount: { counted: false, suspect: false },
  nack: { counted: true, suspect: false },
};

/**
 * The one owner of settling: every ack, requeue, retry and dead letter of a delivery goes through here.
 *
 * An ack goes straight to the delivery's own session (and nowhere else: tags never cross channels). Whatever
 * needs a copy — a dead letter with its reason, a retry after a delay, a requeue that carries a count —
 * publishes the copy on the publishing connection, waits for the broker to confirm it *and* to have routed
 * it, and only then acks the original: at least once. A copy that no queue took (its queue was deleted) has
 * its destination declared again and is sent once more; if that fails too, the original goes back to the
 * queue. A copy whose headers do not fit is sent slimmed (the body and our reason, the dropped header names
 * listed), never looped. Nothing is logged as dead-lettered before the broker confirmed it routed.
 */
export class Settler {
  readonly #options: SettlerOptions;
  readonly #clock: Clock;
  readonly #pending = new Set<Promise<void>>();
  readonly #abandon = new AbortController();

  constructor(options: SettlerOptions) {
    // every copy's deadline listens to it: under an alarm, hundreds may wait at once
    setMaxListeners(0, this.#abandon.signal);
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Copies still waiting for the broker. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Carries out `settlement` for `delivery` (once: a second call is ignored). A retry past `maxAttempts`
   * becomes a dead letter. `failure` is the error that caused a retry or a dead letter.
   */
  settle(delivery: Delivery, settlement: Settlement, failure?: ErrorInfo): void {
    if (delivery.settlement !== undefined) return;
    const { maxAttempts } = this.#options.settings;
    if (settlement.kind === 'retry' && delivery.data.attempt >= maxAttempts) {
      const { attempt } = delivery.data;
      settlement = {
        kind: 'reject',
        cause: 'max_attempts',
        reason: failure === undefined ? `retried ${attempt} times (maxAttempts ${maxAttempts})` : `failed ${attempt} times (maxAttempts ${maxAttempts}); last error: ${failure.message}`,
      };
    }
    delivery.settlement = settlement;
    if (delivery.session.closed) {
      this.#options.logger.debug('channel closed before settling; the broker redelivers the message', { messageId: delivery.messageId });
      this.#options.onSettled?.(delivery, 'lost-channel');
      return;
    }
    switch (settlement.kind) {
      case 'ack':
        if (delivery.session.acks.ack(delivery.tag)) this.#options.onSettled?.(delivery, 'ack');
        return;
      case 'reply':
        if (!isRequest(delivery)) return this.#settleAgain(delivery, { kind: 'ack' });
        return this.#track(this.#reply(delivery, settlement.body));
      case 'nack':
        if (delivery.requeueAsSuspect) return this.#track(this.#requeue(delivery, 'suspect'));
        if (delivery.requeueUncounted) return this.#track(this.#requeue(delivery, 'uncounted'));
        if (delivery.requeueAsCulprit) return this.#track(this.#requeue(delivery, 'culprit'));
        if (this.#options.queueType === 'quorum') {
          // The broker counts this return in x-delivery-count.
          if (delivery.session.acks.reject(delivery.tag, true)) this.#options.onSettled?.(delivery, 'requeue');
          return;
        }
        return this.#track(this.#requeue(delivery, 'nack'));
      case 'retry': {
        const delay = settlement.delayMs ?? jittered(retryDelayFor(delivery.data.attempt, this.#options.settings));
        if (delay <= 0) return this.#settleAgain(delivery, { kind: 'nack' });
        return this.#track(this.#retry(delivery, delay, failure));
      }
      case 'reject':
        return this.#track(this.#deadLetter(delivery, settlement.reason, failure, settlement.cause ?? 'rejected'));
    }
  }

  /** For a settlement decided here on the way (a zero-delay retry is a plain requeue). */
  #settleAgain(delivery: Delivery, settlement: Settlement): void {
    delivery.settlement = undefined;
    this.settle(delivery, settlement);
  }

  /** A classic queue redelivered it: publish a copy that carries this delivery's count, ack the original. */
  recount(delivery: Delivery): void {
    delivery.settlement = { kind: 'nack' };
    this.#track(this.#requeue(delivery, 'recount'));
  }

  /** Resolves once every copy reached the broker (or was given up). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** Stopping: copies stop waiting; their originals stay unacked, and the broker requeues them when the channel closes. */
  abandon(): void {
    this.#abandon.abort(new Error('worker stopping'));
  }

  #track(work: Promise<void>): void {
    this.#pending.add(work);
    void work.finally(() => this.#pending.delete(work));
  }

  #deadline(): Deadline {
    return new Deadline(COPY_TIMEOUT_MS, () => new Error(`the broker did not take the copy within ${COPY_TIMEOUT_MS / 1000} s`), { parent: this.#abandon.signal, clock: this.#clock });
  }

  async #requeue(delivery: Delivery, why: Requeue): Promise<void> {
    const { counted, suspect } = REQUEUES[why];
    const ours: Record<string, unknown> = { [ATTEMPTS_HEADER]: counted ? delivery.data.attempt : delivery.data.attempt - 1, ...(suspect ? { [SUSPECT_HEADER]: true } : {}) };
    await this.#copyThenAck(delivery, why === 'recount' ? 'count' : 'requeue', (properties, deadline) => this.#toQueue(delivery, 0, properties, deadline), ours, why === 'recount' ? undefined : 'requeue');
  }

  async #retry(delivery: Delivery, delayMs: number, failure: ErrorInfo | undefined): Promise<void> {
    const now = new Date(this.#clock.now());
    const sent = await this.#copyThenAck(delivery, 'retry', (properties, deadline) => this.#toQueue(delivery, delayMs, properties, deadline), failureHeaders(delivery, failure, now), 'retry', {
      // Too large with the error and stack: retry without them; still too large: a dead letter, slimmed.
      lean: failureHeaders(delivery, failure, now, { lean: true }),
    });
    if (sent === 'too-large') {
      delivery.settlement = undefined;
      this.settle(delivery, { kind: 'reject', reason: 'its headers are too large to carry a retry', cause: 'headers_too_large' }, failure);
    }
  }

  /**
   * A request's reply first, confirmed, then the ack: a reply is never lost to an ack that went before it. A
   * reply that no one took (the requester left: direct reply-to drops it) still acks; one that could not be
   * sent gives the request back to the queue, to run again (at least once: the requester takes the first).
   */
  async #reply(delivery: Delivery, body: string | Uint8Array): Promise<void> {
    const { logger } = this.#options;
    const deadline = this.#deadline();
    try {
      const outcome = await this.#sendReply(delivery, 'ok', body, deadline);
      if (outcome === 'returned') logger.debug('the requester is gone: its reply was dropped', { messageId: delivery.messageId });
      if (delivery.session.acks.ack(delivery.tag)) this.#options.onSettled?.(delivery, 'ack');
    } catch (error) {
      if (this.#abandon.signal.aborted) return;
      logger.error(`could not send the reply (${(error as Error).message}); the request goes back to the queue`, { messageId: delivery.messageId, code: (error as { code?: unknown }).code });
      this.#giveBack(delivery);
    } finally {
      deadline.clear();
    }
  }

  /** Tells the requester that its request was dead-lettered, and why; best effort, after the dead letter. */
  async #errorReply(delivery: Delivery, reason: string, cause: DeadLetterReason): Promise<void> {
    const deadline = new Deadline(ERROR_REPLY_TIMEOUT_MS, () => new Error('the broker did not take the error reply in time'), { parent: this.#abandon.signal, clock: this.#clock });
    try {
      const error: ReplyError = { reason, cause };
      await this.#sendReply(delivery, 'error', JSON.stringify(error), deadline);
    } catch (error) {
      this.#options.logger.debug(`could not tell the requester that its request was dead-lettered: ${(error as Error).message}`, { messageId: delivery.messageId });
    } finally {
      deadline.clear();
    }
  }

  #sendReply(delivery: Delivery, status: ReplyStatus, body: string | Uint8Array, deadline: Deadline): Promise<PublishOutcome> {
    const { replyTo, correlationId } = delivery.data.properties as { replyTo: string; correlationId: string };
    const content = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return this.#options.copies.publish('', replyTo, content, replyProperties(correlationId, status, typeof body !== 'string', randomUUID()) as Options.Publish, deadline);
  }

  async #deadLetter(delivery: Delivery, reason: string, failure: ErrorInfo | undefined, cause: DeadLetterReason): Promise<void> {
    const { queue, worker, logger } = this.#options;
    const dlq = deadLetterQueueName(queue);
    const headers = deadLetterHeaders(delivery, reason, failure, { queue, worker }, new Date(this.#clock.now()));
    const publish = async (properties: Options.Publish, deadline: Deadline): Promise<PublishOutcome> => {
      let outcome = await this.#options.copies.publish('', dlq, delivery.message.content, properties, deadline);
      if (outcome === 'returned') {
        logger.error(`the dead-letter queue ${dlq} did not take the message (deleted?); declaring it again`, { code: ErrorCode.COPY_RETURNED, messageId: delivery.messageId });
        await this.#options.redeclare(deadline);
        outcome = await this.#options.copies.publish('', dlq, delivery.message.content, properties, deadline);
      }
      return outcome;
    };
    const sent = await this.#copyThenAck(delivery, 'dead-letter', publish, headers, 'dead-letter', { slim: true });
    if (sent !== 'sent') return;
    logger.warn(`message dead-lettered to ${dlq}: ${reason}`, { messageId: delivery.messageId, attempt: delivery.data.attempt });
    if (isRequest(delivery)) await this.#errorReply(delivery, reason, cause);
  }

  /** Through the delay topology: after `delayMs`, or at once (0) through its delivery exchange. */
  async #toQueue(delivery: Delivery, delayMs: number, properties: Options.Publish, deadline: Deadline): Promise<PublishOutcome> {
    try {
      await this.#options.delays.send(this.#options.queue, delayMs, delivery.message.content, properties, deadline, { bind: false });
      return 'routed';
    } catch (error) {
      if ((error as { code?: unknown }).code === ErrorCode.PUBLISH_UNROUTABLE) return 'returned';
      throw error;
    }
  }

  /**
   * Publishes a copy with `ours` added to the original's headers, and acks the original once the broker
   * confirmed it routed. On failure the original goes back to the queue — except when the copy's headers
   * are too large: then `slim` sends the body with our headers only (a dead letter), `lean` retries with
   * smaller ones, and with neither the caller is told ('too-large').
   */
  async #copyThenAck(
    delivery: Delivery,
    what: string,
    publish: (properties: Options.Publish, deadline: Deadline) => Promise<PublishOutcome>,
    ours: Record<string, unknown>,
    outcome: SettledOutcome | undefined,
    fallback: { slim?: boolean; lean?: Record<string, unknown> } = {},
  ): Promise<'sent' | 'requeued' | 'too-large'> {
    const { logger } = this.#options;
    const deadline = this.#deadline();
    try {
      let result: PublishOutcome;
      try {
        result = await publish(copyProperties(delivery, ours), deadline);
      } catch (error) {
        if ((error as { code?: unknown }).code !== ErrorCode.HEADERS_TOO_LARGE) throw error;
        if (fallback.lean !== undefined) {
          try {
            result = await publish(copyProperties(delivery, fallback.lean), deadline);
          } catch (leanError) {
            if ((leanError as { code?: unknown }).code === ErrorCode.HEADERS_TOO_LARGE) return 'too-large';
            throw leanError;
          }
        } else if (fallback.slim === true) {
          logger.warn(`the message's own headers leave no room for the ${what} headers: sending it with the body and rabbit-worker's headers only`, { messageId: delivery.messageId });
          result = await publish(slimCopyProperties(delivery, ours), deadline);
        } else return 'too-large';
      }
      if (result === 'returned') {
        logger.error(`no queue took the ${what} copy of the message; it goes back to the queue`, { code: ErrorCode.COPY_RETURNED, messageId: delivery.messageId });
        this.#giveBack(delivery);
        return 'requeued';
      }
      if (delivery.session.acks.ack(delivery.tag) && outcome !== undefined) this.#options.onSettled?.(delivery, outcome);
      return 'sent';
    } catch (error) {
      if (this.#abandon.signal.aborted) return 'requeued';
      if ((error as { code?: unknown }).code === ErrorCode.HEADERS_TOO_LARGE) {
        // Even our own headers do not fit: let the broker dead-letter it (its x-death says "rejected") rather than loop.
        logger.critical(`the ${what} copy cannot be encoded even slimmed; the broker dead-letters the original instead`, { messageId: delivery.messageId });
        if (delivery.session.acks.reject(delivery.tag, false)) this.#options.onSettled?.(delivery, 'dead-letter');
        return 'requeued';
      }
      logger.error(`could not ${what} the message (${(error as Error).message}); it goes back to the queue`, { messageId: delivery.messageId, code: (error as { code?: unknown }).code });
      this.#giveBack(delivery);
      return 'requeued';
    } finally {
      deadline.clear();
    }
  }

  /** The copy failed: the original goes back to its queue (the broker counts that return on a quorum queue). */
  #giveBack(delivery: Delivery): void {
    if (delivery.session.acks.reject(delivery.tag, true)) this.#options.onSettled?.(delivery, 'requeue');
  }
}
