import type { ConsumeMessage } from 'amqplib';
import type { BrokerSession } from '../broker/session.js';
import { isPermanent, type ErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { settleAtBroker, type SettleContext } from './broker-settler.js';
import { Delivery } from './delivery.js';
import type { WorkerSettings } from './options.js';
import type { CallbackRunner } from './runner.js';
import type { Settlement } from './settlement.js';
import { ShutdownHelper } from './shutdown-helper.js';
import type { ShutdownReason } from './shutdown-reason.js';

/** How long `shutdown()` may take for the messages of one interruption. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;

export interface ConsumerOptions {
  settings: WorkerSettings;
  worker: string;
  runner: CallbackRunner;
  logger: Logger;
  /** Called once `maxMessages` messages were handled. */
  onLimit?: () => void;
}

/**
 * Receives deliveries, hands them to the runner, and settles them: the callback's own decision, or the
 * default (ack when it returned, nack when it threw, reject for PermanentError or past `maxAttempts`).
 * Arms the ShutdownHelper for every callback so that an interruption runs `shutdown()` for each message.
 */
export class Consumer {
  readonly #settings: WorkerSettings;
  readonly #runner: CallbackRunner;
  readonly #logger: Logger;
  readonly #context: SettleContext;
  readonly #onLimit: (() => void) | undefined;
  readonly #inflight = new Map<number, Delivery>();
  readonly #settling = new Set<Promise<void>>();
  readonly #helper: ShutdownHelper<Delivery>;
  #session: BrokerSession | undefined;
  #handled = 0;
  #warnedUnsettled = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: ConsumerOptions) {
    this.#settings = options.settings;
    this.#runner = options.runner;
    this.#logger = options.logger;
    this.#onLimit = options.onLimit;
    this.#context = { queue: options.settings.queue, queueType: options.settings.queueType, worker: options.worker, logger: options.logger };
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
  };

  async start(session: BrokerSession, onCancel: () => void): Promise<void> {
    this.#session = session;
    await session.consume(this.#settings.queue, (message) => this.#receive(session, message), onCancel);
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
    const delivery = new Delivery(message, session, this.#settings.queue, this.#settings.queueType);
    this.#inflight.set(delivery.id, delivery);
    if (delivery.data.attempt > this.#settings.maxAttempts) {
      this.#settle(delivery, {
        kind: 'reject',
        reason: `delivered ${delivery.data.attempt} times, more than maxAttempts (${this.#settings.maxAttempts}); its callback never completed (the process or isolate died)`,
      });
      this.#finish(delivery);
      return;
    }
    this.#helper.arm(delivery);
    this.#runner.dispatch(delivery.data);
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
      } else if (delivery.data.attempt >= this.#settings.maxAttempts) {
        this.#settle(delivery, { kind: 'reject', reason: `failed ${delivery.data.attempt} times (maxAttempts ${this.#settings.maxAttempts}); last error: ${error.message}` }, error);
      } else {
        this.#logger.error(`callback failed: ${error.message}; message nacked for another attempt`, {
          messageId: delivery.data.properties.messageId,
          attempt: delivery.data.attempt,
          err: { type: error.name, message: error.message, stack: error.stack },
        });
        this.#settle(delivery, { kind: 'nack' });
      }
    }
    this.#finish(delivery);
  }

  #settle(delivery: Delivery, settlement: Settlement, failure?: ErrorInfo): void {
    if (delivery.settlement !== undefined) return;
    delivery.settlement = settlement;
    if (settlement.kind === 'ack' && !delivery.session.closed) {
      delivery.session.acks.ack(delivery.tag); // the hot path: no promise
      return;
    }
    const pending = settleAtBroker(delivery, settlement, this.#context, failure);
    this.#settling.add(pending);
    void pending.finally(() => this.#settling.delete(pending));
  }

  #finish(delivery: Delivery): void {
    if (!this.#inflight.delete(delivery.id)) return;
    this.#handled++;
    const max = this.#settings.maxMessages;
    if (max > 0 && this.#handled === max) this.#onLimit?.();
    if (this.#inflight.size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      waiters.forEach((resolve) => resolve());
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error) return String((error as { message: unknown }).message);
  return String(error);
}

