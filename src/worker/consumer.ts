import type { ConsumeMessage } from 'amqplib';
import type { BrokerSession } from '../broker/session.js';
import { isPermanent, type ErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { RetryQueues } from '../broker/retry-queues.js';
import { recountRedelivery, requeueAsSuspect, settleAtBroker, type SettleContext } from './broker-settler.js';
import { Delivery } from './delivery.js';
import type { WorkerSettings } from './options.js';
import type { CallbackRunner } from './runner.js';
import type { Settlement } from './settlement.js';
import { ShutdownHelper } from './shutdown-helper.js';
import type { ShutdownReason } from './shutdown-reason.js';

/** How long `shutdown()` may take for the messages of one interruption. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;

/** RabbitMQ's default `consumer_timeout`: a delivery unacked longer closes the channel. */
export const CONSUMER_TIMEOUT_MS = Number(process.env.RABBITMQ_CONSUMER_TIMEOUT_MS ?? 1_800_000);

/** Message ids remembered as "returned by a connection loss", so that their redelivery is not counted as a crash. */
const OUTAGE_MEMORY = 10_000;

export interface ConsumerOptions {
  settings: WorkerSettings;
  worker: string;
  runner: CallbackRunner;
  logger: Logger;
  /** Called when the `maxMessages`-th callback starts: time to stop taking messages. */
  onLimit?: () => void;
  /** Called when a callback on the main thread ignores its deadline: only a new process can free it. */
  onStuck?: () => void;
  /** Called when callbacks can no longer run (a new isolate cannot start): the process must end. */
  onFailed?: (error: unknown) => void;
}

/**
 * Receives deliveries, hands them to the runner, and settles them: the callback's own decision, or the
 * default (ack when it returned, retry with backoff when it threw, reject for PermanentError or past
 * `maxAttempts`).
 * Arms the ShutdownHelper for every callback so that an interruption runs `shutdown()` for each message.
 */
export class Consumer {
  readonly #settings: WorkerSettings;
  readonly #runner: CallbackRunner;
  readonly #logger: Logger;
  readonly #context: SettleContext;
  readonly #onLimit: (() => void) | undefined;
  readonly #onStuck: (() => void) | undefined;
  readonly #onFailed: ((error: unknown) => void) | undefined;
  readonly #returnedByOutage = new Set<string>();
  /** Deliveries waiting while a suspect runs alone. */
  #held: Delivery[] = [];
  /** The suspect running alone, if any. */
  #solo: Delivery | undefined;
  #retryQueues: RetryQueues | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  readonly #inflight = new Map<number, Delivery>();
  readonly #settling = new Set<Promise<void>>();
  readonly #helper: ShutdownHelper<Delivery>;
  #session: BrokerSession | undefined;
  #handled = 0;
  #started = 0;
  #warnedUnsettled = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: ConsumerOptions) {
    this.#settings = options.settings;
    this.#runner = options.runner;
    this.#logger = options.logger;
    this.#onLimit = options.onLimit;
    this.#onStuck = options.onStuck;
    this.#onFailed = options.onFailed;
    this.#context = {
      queue: options.settings.queue,
      queueType: options.settings.queueType,
      worker: options.worker,
      logger: options.logger,
      settings: options.settings,
      retryQueues: () => this.#retryQueues,
    };
    this.#helper = new ShutdownHelper<Delivery>((delivery, reason, error) => this.#runner.shutdown(delivery.data, reason, error));
  }

  /** Messages handled (settled) so far. */
  get handled(): number {
    return this.#handled;
  }

  /** Messages whose callbacks are running. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** The message ids in flight, for status reports. */
  inflightIds(): string[] {
    return [...this.#inflight.values()].map((d) => d.data.properties.messageId ?? `#${d.id}`);
  }

  /** The runner's callbacks for this consumer. */
  readonly events = {
    settle: (id: number, settlement: Settlement): void => {
      const delivery = this.#inflight.get(id);
      if (delivery !== undefined) this.#settle(delivery, settlement);
    },
    done: (id: number, error: ErrorInfo | undefined): void => this.#done(id, error),
    crash: (reason: ShutdownReason, error: unknown): void => {
      void this.interrupted(reason, error);
    },
    failed: (error: unknown): void => this.#onFailed?.(error),
  };

  /** Consumes on `session` (a new one after each reconnection); `retryQueues` belong to its connection. */
  async start(session: BrokerSession, retryQueues: RetryQueues, onCancel: () => void): Promise<void> {
    this.#session = session;
    this.#retryQueues = retryQueues;
    await session.consume(this.#settings.queue, (message) => this.#receive(session, message), onCancel);
    this.#sweeper ??= setInterval(() => this.#sweep(), this.#settings.messageTimeout > 0 ? Math.min(1000, this.#settings.messageTimeout * 250) : 5000);
    this.#sweeper.unref();
  }

  /**
   * The connection dropped: the broker requeues every unacked message. Their callbacks may still finish,
   * but nothing can be settled on the dead channel. Their redelivery is remembered as not being a crash.
   */
  connectionLost(): void {
    // Even a settled one may come back: its ack may not have left before the connection died.
    for (const delivery of this.#inflight.values()) remember(this.#returnedByOutage, delivery.data.properties.messageId);
    // Held deliveries never started: the broker has them again, running them now would only duplicate.
    const held = this.#held;
    this.#held = [];
    for (const delivery of held) this.#finish(delivery, false);
  }

  /** Stops the deadline sweep; the last step of stopping. */
  close(): void {
    clearInterval(this.#sweeper);
  }

  /** Stops receiving; callbacks in flight go on. */
  async cancel(): Promise<void> {
    await this.#session?.cancel();
  }

  /** Resolves once no callback is running and every settlement reached the broker, or after `timeoutMs`. */
  async idle(timeoutMs: number): Promise<boolean> {
    if (this.#inflight.size > 0) {
      const finished = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        this.#idleWaiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!finished) return false;
    }
    await Promise.allSettled([...this.#settling]);
    return true;
  }

  /**
   * Callbacks were interrupted (`reason`): runs `shutdown()` once per message still running, then nacks
   * whatever `shutdown()` left unsettled, so nothing is lost and nothing is silently acked.
   */
  async interrupted(reason: ShutdownReason, error: unknown, options: { cancelFirst?: boolean } = {}): Promise<void> {
    for (const delivery of this.#helper.armed) delivery.interrupted = true;
    // A process that is about to die stops deliveries first, so that a nack cannot come straight back to it.
    if (options.cancelFirst === true) await this.cancel();
    const deliveries = [...this.#helper.armed];
    for (const delivery of deliveries) delivery.interrupted = true;
    if (deliveries.length === 0) return;
    if (deliveries.length > 1 && reason !== 'stop-timeout') {
      // One of them killed the isolate and the others went down with it: each comes back to run alone,
      // and this attempt is not held against it (the culprit is counted from its solo runs on).
      for (const delivery of deliveries) delivery.requeueAsSuspect = true;
    }
    this.#logger.critical(`callbacks interrupted (${reason}); running shutdown() for ${deliveries.length} message(s)`, {
      reason,
      messageIds: deliveries.map((d) => d.data.properties.messageId),
      ...(error !== undefined ? { err: describe(error) } : {}),
    });
    const { failed, errors } = await this.#helper.fire(reason, error, SHUTDOWN_TIMEOUT_MS);
    failed.forEach((delivery, i) => {
      this.#logger.critical(`shutdown() failed: ${describe(errors[i])}; message nacked`, { messageId: delivery.data.properties.messageId, reason });
    });
    for (const delivery of deliveries) {
      if (delivery.settlement === undefined) this.#settle(delivery, { kind: 'nack' });
      this.#finish(delivery);
    }
    await Promise.allSettled([...this.#settling]);
  }

  #receive(session: BrokerSession, message: ConsumeMessage): void {
    const messageId = message.properties.messageId as string | undefined;
    const afterOutage = message.fields.redelivered && messageId !== undefined && this.#returnedByOutage.delete(messageId);
    const delivery = new Delivery(message, session, this.#settings.queue, this.#settings.queueType, afterOutage ? 1 : 0);
    const suspect = delivery.suspect;
    this.#inflight.set(delivery.id, delivery);
    if (delivery.data.attempt > this.#settings.maxAttempts) {
      this.#settle(delivery, {
        kind: 'reject',
        reason: `delivered ${delivery.data.attempt} times, more than maxAttempts (${this.#settings.maxAttempts}); its callback never completed (the process or isolate died)`,
      });
      this.#countTowardsLimit();
      this.#finish(delivery);
      return;
    }
    if (this.#settings.queueType === 'classic' && message.fields.redelivered && !afterOutage) {
      // A classic queue counts nothing: a message whose process died would come back forever. Count this
      // delivery in a copy at the back of the queue, and handle the copy.
      delivery.settlement = { kind: 'nack' };
      this.#track(recountRedelivery(delivery, this.#context));
      this.#finish(delivery, false);
      return;
    }
    if (!suspect && this.#solo === undefined && this.#held.length === 0) this.#start(delivery);
    else {
      this.#held.push(delivery);
      this.#pump();
    }
  }

  #start(delivery: Delivery): void {
    this.#countTowardsLimit();
    delivery.startedAt = Date.now();
    this.#helper.arm(delivery);
    this.#runner.dispatch(delivery.data);
  }

  /**
   * maxMessages counts messages as they are taken (a callback starts, or one is dead-lettered for its
   * attempts), so that the consumer is cancelled before the last message's ack invites another delivery.
   */
  #countTowardsLimit(): void {
    if (++this.#started === this.#settings.maxMessages) this.#onLimit?.();
  }

  /** Starts held deliveries in order; a suspect waits until nothing else runs, and runs alone. */
  #pump(): void {
    while (this.#held.length > 0 && this.#solo === undefined) {
      const next = this.#held[0] as Delivery;
      if (next.suspect && this.#helper.armed.size > 0) return;
      this.#held.shift();
      if (!this.#inflight.has(next.id)) continue; // settled meanwhile (an interruption, a lost channel)
      if (next.suspect) this.#solo = next;
      this.#start(next);
    }
  }

  /** Deadlines: abort and retry past `messageTimeout`; recycle a callback that ignores it; warn before consumer_timeout. */
  #sweep(): void {
    const now = Date.now();
    const timeoutMs = this.#settings.messageTimeout * 1000;
    for (const delivery of this.#inflight.values()) {
      if (delivery.interrupted) continue;
      const age = now - delivery.startedAt;
      if (timeoutMs > 0 && age > timeoutMs && delivery.abortedAt === undefined) {
        delivery.abortedAt = now;
        const reason = `callback ran past messageTimeout (${this.#settings.messageTimeout}s)`;
        this.#logger.warn(`${reason}; its signal is aborted and the message retried`, { messageId: delivery.data.properties.messageId, attempt: delivery.data.attempt });
        this.#runner.abort(delivery.id, reason);
        this.#settle(delivery, { kind: 'retry' }, { name: 'DeadlineExceeded', message: reason });
      } else if (delivery.abortedAt !== undefined && now - delivery.abortedAt > Math.min(10_000, Math.max(1000, timeoutMs / 2))) {
        this.#logger.error('callback ignored its aborted signal; recycling where it runs', { messageId: delivery.data.properties.messageId });
        this.#helper.disarm(delivery); // already retried: no shutdown() for it
        this.#finish(delivery);
        if (!this.#runner.recycle()) this.#onStuck?.();
      } else if (age > CONSUMER_TIMEOUT_MS * 0.8 && !delivery.warnedLong) {
        delivery.warnedLong = true;
        this.#logger.warn(`callback has run ${Math.round(age / 1000)}s, near RabbitMQ's consumer_timeout (${CONSUMER_TIMEOUT_MS / 1000}s) after which the broker closes the channel; set messageTimeout`, {
          messageId: delivery.data.properties.messageId,
        });
      }
    }
  }

  #done(id: number, error: ErrorInfo | undefined): void {
    const delivery = this.#inflight.get(id);
    if (delivery === undefined || delivery.interrupted) return;
    this.#helper.disarm(delivery);
    if (delivery.settlement === undefined) {
      if (error === undefined) {
        if (!this.#warnedUnsettled) {
          this.#warnedUnsettled = true;
          this.#logger.warn('callback returned without settling its message; acked (call message.ack() at the end of callback; this is logged once)', {
            code: 'UNSETTLED_ACKED',
            messageId: delivery.data.properties.messageId,
          });
        }
        this.#settle(delivery, { kind: 'ack' });
      } else if (isPermanent(error)) {
        this.#settle(delivery, { kind: 'reject', reason: error.message }, error);
      } else {
        this.#logger.error(`callback failed: ${error.message}; retrying`, {
          messageId: delivery.data.properties.messageId,
          attempt: delivery.data.attempt,
          err: { type: error.name, message: error.message, stack: error.stack },
        });
        this.#settle(delivery, { kind: 'retry' }, error);
      }
    }
    this.#finish(delivery);
  }

  #settle(delivery: Delivery, settlement: Settlement, failure?: ErrorInfo): void {
    if (delivery.settlement !== undefined) return;
    if (settlement.kind === 'retry' && delivery.data.attempt >= this.#settings.maxAttempts) {
      const { attempt } = delivery.data;
      const max = this.#settings.maxAttempts;
      settlement = {
        kind: 'reject',
        reason: failure === undefined ? `retried ${attempt} times (maxAttempts ${max})` : `failed ${attempt} times (maxAttempts ${max}); last error: ${failure.message}`,
      };
    }
    delivery.settlement = settlement;
    if (settlement.kind === 'nack' && delivery.requeueAsSuspect) {
      this.#track(requeueAsSuspect(delivery, this.#context));
      return;
    }
    if (settlement.kind === 'ack' && !delivery.session.closed) {
      delivery.session.acks.ack(delivery.tag); // the hot path: no promise
      return;
    }
    this.#track(settleAtBroker(delivery, settlement, this.#context, failure));
  }

  #track(pending: Promise<void>): void {
    this.#settling.add(pending);
    void pending.finally(() => this.#settling.delete(pending));
  }

  /** `counted`: false for a delivery that only moved the message (a recount), not handled it. */
  #finish(delivery: Delivery, counted = true): void {
    if (!this.#inflight.delete(delivery.id)) return;
    if (counted) this.#handled++;
    if (this.#solo === delivery) this.#solo = undefined;
    if (this.#held.length > 0) this.#pump();
    if (this.#inflight.size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      waiters.forEach((resolve) => resolve());
    }
  }
}

/** Adds `id` to a bounded set of remembered message ids (the oldest is forgotten first). */
function remember(set: Set<string>, id: string | undefined): void {
  if (id === undefined) return;
  if (set.size >= OUTAGE_MEMORY) set.delete(set.values().next().value as string);
  set.add(id);
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error) return String((error as { message: unknown }).message);
  return String(error);
}

