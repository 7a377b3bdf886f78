import { systemClock, type Clock, type ClockTimer } from '../../clock.js';
import type { Logger } from '../../log/logger.js';
import type { ScheduleConfig } from './schedule-config.js';
import { decide, latestTick, nextTick, tickMessageId } from './ticks.js';
import type { SettledTicks } from './token.js';

/** The longest the ticker sleeps: a clock that jumped (NTP, a suspended VM) is noticed within this. */
export const MAX_SLEEP_MS = 60_000;
/** Pause before a tick whose publish failed is tried again (while it is still the latest tick). */
export const RETRY_MS = 5000;

export interface TickerOptions {
  schedules: ScheduleConfig[];
  logger: Logger;
  /** Publishes one tick's message; rejects when the broker did not confirm it. */
  fire: (schedule: ScheduleConfig, tick: number) => Promise<void>;
  /** Saves the settled ticks in the leader token; called after every change, never concurrently. */
  persist: (last: SettledTicks) => Promise<void>;
  clock?: Clock;
}

/**
 * Fires the schedules while this supervisor leads. Not leading, it does nothing. Given the leader
 * token's settled ticks, it decides with {@link decide} what is due, publishes it, advances the settled
 * tick only once the broker confirmed, saves the result in the token, and sleeps until the next tick
 * (at most {@link MAX_SLEEP_MS}). A publish that fails is tried again every {@link RETRY_MS} for as long
 * as its tick is the latest one.
 */
export class Ticker {
  readonly #options: TickerOptions;
  readonly #clock: Clock;
  #schedules: ScheduleConfig[];
  #last: SettledTicks = {};
  #leading = false;
  #timer: ClockTimer | undefined;
  /** The pass running now (one at a time); a wake during it runs another pass after it. */
  #running: Promise<void> | undefined;
  #again = false;
  /** Settled ticks changed since the token was last renewed (a baseline, a reload). */
  #dirty = false;
  /** A tick whose publish failed, per schedule: tried again while it is the latest tick. */
  readonly #retry = new Map<string, number>();

  constructor(options: TickerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#schedules = options.schedules;
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** The settled ticks as this ticker knows them. */
  get last(): SettledTicks {
    return { ...this.#last };
  }

  /**
   * This supervisor now leads, with the token's state. A schedule the token does not know yet starts
   * settled at its latest tick: a new schedule never fires a tick from before it existed.
   */
  lead(last: SettledTicks): Promise<void> {
    this.#leading = true;
    this.#last = { ...last };
    this.#baseline();
    return this.#wake();
  }

  /** Another token arrived (a duplicate): its knowledge joins ours. */
  merge(last: SettledTicks): void {
    for (const [name, tick] of Object.entries(last)) this.#last[name] = Math.max(this.#last[name] ?? -Infinity, tick);
  }

  /** Leadership is gone (the connection or channel closed): stop firing at once. */
  follow(): void {
    this.#leading = false;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#retry.clear();
  }

  /** A reloaded config: new and changed schedules are planned from now. */
  update(schedules: ScheduleConfig[]): Promise<void> {
    this.#schedules = schedules;
    if (!this.#leading) return Promise.resolve();
    this.#baseline();
    return this.#wake();
  }

  /** Waits for a pass in progress (a publish, a token renewal) and stops. */
  async stop(): Promise<void> {
    this.follow();
    await this.#running;
  }

  #baseline(): void {
    const now = this.#clock.now();
    for (const schedule of this.#schedules) {
      if (this.#last[schedule.name] !== undefined) continue;
      this.#last[schedule.name] = latestTick(schedule.trigger, now) ?? now;
      this.#dirty = true;
    }
  }

  /** Runs one pass now, or right after the one in progress. */
  #wake(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#pass().catch((error: unknown) => this.#options.logger.error(`schedules: ${(error as Error).message}`));
      } while (this.#again && this.#leading);
    })().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #pass(): Promise<void> {
    if (!this.#leading) return;
    const { logger } = this.#options;
    let changed = this.#dirty;
    this.#dirty = false;
    let wakeAt = this.#clock.now() + MAX_SLEEP_MS;
    for (const schedule of this.#schedules) {
      if (!this.#leading) return;
      const now = this.#clock.now();
      const last = this.#last[schedule.name] ?? now;
      const decision = decide(schedule, last, now);
      const retry = this.#retry.get(schedule.name);
      this.#retry.delete(schedule.name);
      // a tick whose publish failed is tried again for as long as it is the latest one, however late
      const fire = retry !== undefined && retry === decision.settled ? retry : decision.fire;
      if (decision.skipped > 0 && retry === undefined) {
        logger.warn(`schedule ${schedule.name}: ${decision.skipped} tick(s) that passed while no supervisor led were skipped (missed: ${schedule.missed})`, { schedule: schedule.name, skipped: decision.skipped });
      }
      if (fire !== undefined) {
        try {
          await this.#options.fire(schedule, fire);
          logger.info(`schedule ${schedule.name} fired`, { schedule: schedule.name, queue: schedule.queue, tick: new Date(fire).toISOString(), messageId: tickMessageId(schedule.name, fire), lateMs: now - fire });
        } catch (error) {
          logger.error(`schedule ${schedule.name}: the tick ${new Date(fire).toISOString()} was not published: ${(error as Error).message}; trying again in ${RETRY_MS / 1000} s`, { schedule: schedule.name, code: (error as { code?: unknown }).code });
          this.#retry.set(schedule.name, fire);
          wakeAt = Math.min(wakeAt, this.#clock.now() + RETRY_MS);
          continue;
        }
      }
      if (decision.settled > last) {
        this.#last[schedule.name] = decision.settled;
        changed = true;
      }
      const next = nextTick(schedule.trigger, this.#last[schedule.name] ?? now);
      if (next !== undefined) wakeAt = Math.min(wakeAt, next);
    }
    if (changed && this.#leading) {
      // a failed renewal means the token's connection is going: follow() comes with its close
      await this.#options.persist(this.last).catch((error: unknown) => logger.warn(`schedules: the leader token was not renewed: ${(error as Error).message}`));
    }
    if (!this.#leading) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => void this.#wake(), Math.max(0, wakeAt - this.#clock.now()));
  }
}
