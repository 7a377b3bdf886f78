import type { Clock, ClockTimer } from '../../src/clock.js';

interface Pending {
  at: number;
  fn: () => void;
  every?: number;
  cancelled: boolean;
}

/** A clock that moves only when the test says so: deadlines, backoff and sweeps without waiting. */
export class ManualClock implements Clock {
  #now: number;
  #timers: Pending[] = [];

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer: Pending = { at: this.#now + Math.max(0, ms), fn, cancelled: false };
    this.#timers.push(timer);
    return timer as unknown as ClockTimer;
  }

  setInterval(fn: () => void, ms: number): ClockTimer {
    const timer: Pending = { at: this.#now + ms, fn, every: Math.max(1, ms), cancelled: false };
    this.#timers.push(timer);
    return timer as unknown as ClockTimer;
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    if (timer !== undefined) (timer as unknown as Pending).cancelled = true;
  }

  clearInterval(timer: ClockTimer | undefined): void {
    this.clearTimeout(timer);
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#now = due.at;
      if (due.every !== undefined) due.at += due.every;
      else due.cancelled = true;
      due.fn();
    }
    this.#now = end;
    this.#timers = this.#timers.filter((t) => !t.cancelled);
  }
}
