import { systemClock, type Clock, type ClockTimer } from '../clock.js';

const TICK_MS = 250;

/**
 * Watches how late the event loop runs its timers: a long synchronous callback (isolation `none`) blocks
 * it, and with it the heartbeats — then a lost connection may be the callback's doing, not the network's.
 */
export class LoopLag {
  readonly #clock: Clock;
  #timer: ClockTimer | undefined;
  #last = 0;
  /** [when it ended, how long the loop was blocked], the recent ones. */
  #stalls: Array<[number, number]> = [];

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#last = this.#clock.now();
    this.#timer = this.#clock.setInterval(() => {
      const now = this.#clock.now();
      const late = now - this.#last - TICK_MS;
      this.#last = now;
      if (late > 1000) {
        this.#stalls.push([now, late]);
        if (this.#stalls.length > 16) this.#stalls.shift();
      }
    }, TICK_MS);
    this.#timer.unref?.();
  }

  stop(): void {
    this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The longest stall (ms) that ended within the last `windowMs`, including one still going on now. */
  longestStall(windowMs: number): number {
    const now = this.#clock.now();
    let longest = this.#timer === undefined ? 0 : Math.max(0, now - this.#last - TICK_MS);
    for (const [at, ms] of this.#stalls) if (now - at <= windowMs) longest = Math.max(longest, ms);
    return longest;
  }
}
