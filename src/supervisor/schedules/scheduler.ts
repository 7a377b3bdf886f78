import { Publisher } from '../../broker/publisher.js';
import { parseUrls } from '../../broker/url.js';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log/logger.js';
import { LeaderToken } from './leader-token.js';
import type { ScheduleConfig } from './schedule-config.js';
import { Ticker } from './ticker.js';
import { tickMessageId } from './ticks.js';

export interface SchedulerOptions {
  schedules: ScheduleConfig[];
  /** The election group (`scheduler.group`). */
  group: string;
  /** AMQP URL(s), comma-separated; default AMQP_URL. */
  url?: string;
  logger: Logger;
  clock?: Clock;
}

/**
 * The schedules of one supervisor: it takes part in its group's election ({@link LeaderToken}) and, while
 * it leads, fires the ticks ({@link Ticker}), each as one persistent, confirmed message with the id
 * `schedule:<name>:<tick ISO>` to the schedule's queue (through a {@link Publisher}: failover, and an
 * error when the queue does not exist). Every supervisor of the group runs one; one fires.
 *
 * Stopping (SIGTERM) is ordered: stop firing (a publish in flight finishes), leave the election handing
 * the latest state to the next supervisor at once, then close the publisher.
 */
export class Scheduler {
  readonly #ticker: Ticker;
  readonly #token: LeaderToken;
  readonly #publisher: Publisher;
  readonly #logger: Logger;
  #stopping: Promise<void> | undefined;

  constructor(options: SchedulerOptions) {
    const { logger } = options;
    this.#logger = logger;
    const urls = parseUrls(options.url);
    this.#publisher = new Publisher({ url: urls.join(','), logger, publishTimeoutMs: 20_000 });
    this.#ticker = new Ticker({
      schedules: options.schedules,
      logger,
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      fire: async (schedule, tick) => {
        await this.#publisher.publish(schedule.queue, schedule.payload, { messageId: tickMessageId(schedule.name, tick) });
      },
      persist: (last) => this.#token.renew(last),
    });
    this.#token = new LeaderToken({
      urls,
      group: options.group,
      logger,
      onLead: (last) => void this.#ticker.lead(last),
      onMerge: (last) => this.#ticker.merge(last),
      onFollow: () => this.#ticker.follow(),
      state: () => this.#ticker.last,
    });
  }

  get leading(): boolean {
    return this.#token.leading;
  }

  start(): void {
    this.#token.start();
  }

  /** A reloaded config's schedules. */
  update(schedules: ScheduleConfig[]): void {
    void this.#ticker.update(schedules);
  }

  /** Idempotent; see the class comment for the order. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#ticker.stop();
      await this.#token.stop(this.#ticker.last);
      await this.#publisher.close();
      this.#logger.info('schedules: stopped');
    })();
    return this.#stopping;
  }
}
