import { systemClock, type Clock, type ClockTimer } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Delivery } from './delivery.js';

export interface DeadlineSweepOptions {
  /** Seconds a callback may run before its signal aborts; 0 = no limit. */
  messageTimeout: number;
  /** The broker's consumer_timeout, in seconds: a warning at 80 %. */
  consumerTimeout: number;
  logger: Logger;
  clock?: Clock;
  /** The deliveries whose callbacks run. */
  running: () => Iterable<Delivery>;
  /** Past messageTimeout: abort the callback's signal and retry the message. */
  onTimeout: (delivery: Delivery, reason: string) => void;
  /** The callback ignored its aborted signal for the grace period: replace what runs it. */
  onIgnored: (delivery: Delivery) => void;
}

/** How long a callback may ignore its aborted signal before what runs it is replaced (half the timeout, 1–10 s). */
export const ignoreGraceMs = (messageTimeoutMs: number): number => Math.min(10_000, Math.max(1000, messageTimeoutMs / 2));

/**
 * Deadlines of running callbacks, checked on a timer of the injected clock: past `messageTimeout` the
 * callback's `message.signal` aborts and the message is retried; a callback that ignores the abort for the
 * grace period has its isolate replaced; a callback that runs towards the broker's `consumer_timeout` (after
 * which RabbitMQ closes the channel) is warned about at 80 %, once.
 */
export class DeadlineSweep {
  readonly #options: DeadlineSweepOptions;
  readonly #clock: Clock;
  #timer: ClockTimer | undefined;

  constructor(options: DeadlineSweepOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    const { messageTimeout, consumerTimeout } = this.#options;
    // often enough for both deadlines: a quarter of messageTimeout (≤ 1 s), a twentieth of consumerTimeout (≤ 5 s)
    const everyMs = Math.max(250, Math.min(messageTimeout > 0 ? Math.min(1000, messageTimeout * 250) : 5000, consumerTimeout * 50));
    this.#timer = this.#clock.setInterval(() => this.sweep(), everyMs);
    this.#timer.unref?.();
  }

  stop(): void {
    this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One pass; the timer calls it, tests may too. */
  sweep(): void {
    const { messageTimeout, consumerTimeout, logger } = this.#options;
    const now = this.#clock.now();
    const timeoutMs = messageTimeout * 1000;
    for (const delivery of [...this.#options.running()]) {
      if (delivery.interrupted || delivery.startedAt === 0) continue;
      const age = now - delivery.startedAt;
      if (timeoutMs > 0 && age > timeoutMs && delivery.abortedAt === undefined) {
        delivery.abortedAt = now;
        this.#options.onTimeout(delivery, `callback ran past messageTimeout (${messageTimeout}s)`);
      } else if (delivery.abortedAt !== undefined && now - delivery.abortedAt > ignoreGraceMs(timeoutMs)) {
        delivery.abortedAt = Number.POSITIVE_INFINITY; // once
        this.#options.onIgnored(delivery);
      } else if (age > consumerTimeout * 800 && !delivery.warnedLong) {
        delivery.warnedLong = true;
        logger.warn(
          `callback has run ${Math.round(age / 1000)}s, ${age >= consumerTimeout * 1000 ? 'past' : 'near'} RabbitMQ's consumer_timeout (consumerTimeout ${consumerTimeout}s), after which the broker closes the channel and redelivers the message; set messageTimeout below it`,
          { messageId: delivery.messageId },
        );
      }
    }
  }
}
