import type { Delivery } from './delivery.js';

/** Where a delivery runs: with the others, or in the quarantine lane (one suspect at a time, apart). */
export type Lane = 'main' | 'quarantine';

/**
 * Keeps suspects apart from healthy messages. A suspect is a message that was in flight when its isolate
 * died beside others: any of them may be the culprit, so each comes back marked and runs alone, and only
 * the one that kills its isolate again reaches `maxAttempts`.
 *
 * With a quarantine lane (callbacks in isolates: suspects run in an isolate of their own), healthy
 * deliveries start at once and suspects run one at a time beside them — nothing healthy waits behind a
 * suspect, so a fault while a suspect runs cannot return unstarted neighbours (which the broker would
 * count). Without one (callbacks on the main thread), a suspect waits until nothing else runs and runs
 * alone, with later deliveries waiting behind it.
 */
export class Quarantine {
  readonly #hasLane: boolean;
  readonly #waiting: Delivery[] = [];
  #running: Delivery | undefined;

  constructor(hasLane: boolean) {
    this.#hasLane = hasLane;
  }

  /** Deliveries received and not started. */
  get waiting(): readonly Delivery[] {
    return this.#waiting;
  }

  /** The lane to start `delivery` in now, or undefined when it must wait (see {@link next}). */
  admit(delivery: Delivery, runningCount: number): Lane | undefined {
    if (this.#hasLane) {
      if (!delivery.suspect) return 'main';
      if (this.#running === undefined) {
        this.#running = delivery;
        return 'quarantine';
      }
      this.#waiting.push(delivery);
      return undefined;
    }
    if (this.#running === undefined && this.#waiting.length === 0 && (!delivery.suspect || runningCount === 0)) {
      if (delivery.suspect) this.#running = delivery;
      return 'main';
    }
    this.#waiting.push(delivery);
    return undefined;
  }

  /** `delivery` ended (or was dropped): frees the lane if it held it. */
  finished(delivery: Delivery): void {
    if (this.#running === delivery) this.#running = undefined;
    const i = this.#waiting.indexOf(delivery);
    if (i >= 0) this.#waiting.splice(i, 1);
  }

  /** The next waiting delivery that may start now, with its lane; undefined when none may. */
  next(runningCount: number): { delivery: Delivery; lane: Lane } | undefined {
    const head = this.#waiting[0];
    if (head === undefined || this.#running !== undefined) return undefined;
    if (this.#hasLane) {
      this.#waiting.shift();
      this.#running = head;
      return { delivery: head, lane: 'quarantine' };
    }
    if (head.suspect && runningCount > 0) return undefined;
    this.#waiting.shift();
    if (head.suspect) this.#running = head;
    return { delivery: head, lane: 'main' };
  }

  /** Drops the waiting deliveries that `keep` rejects (their channel closed: the broker has them again). */
  drop(keep: (delivery: Delivery) => boolean): Delivery[] {
    const dropped = this.#waiting.filter((d) => !keep(d));
    for (const d of dropped) this.#waiting.splice(this.#waiting.indexOf(d), 1);
    return dropped;
  }
}
