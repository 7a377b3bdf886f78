import { systemClock, type Clock, type ClockTimer } from './clock.js';

/**
 * A point in time after which an operation gives up, with an AbortSignal that aborts then.
 *
 * Why not `AbortSignal.timeout()`: on Node 20, a timeout signal that only `AbortSignal.any()` refers to
 * can be garbage-collected before it fires, and the composite signal then never aborts (seen here: a
 * publish with a 30 s timeout still retrying after 2 min 48 s). A Deadline holds its own timer until it
 * fires or is cleared, so nothing the GC does can lose it. Clear it when the operation ends.
 */
export class Deadline {
  readonly #controller = new AbortController();
  readonly #clock: Clock;
  readonly #at: number;
  #timer: ClockTimer | undefined;
  #onParentAbort: (() => void) | undefined;
  #parent: AbortSignal | undefined;

  /**
   * @param ms how long from now; `Infinity` never fires by itself
   * @param reason the error the signal aborts with when time is up
   * @param parent aborting it (e.g. a close) aborts this deadline too, with the parent's reason
   */
  constructor(ms: number, reason: () => Error, options: { clock?: Clock; parent?: AbortSignal } = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#at = this.#clock.now() + ms;
    if (Number.isFinite(ms)) this.#timer = this.#clock.setTimeout(() => this.#abort(reason()), Math.max(0, ms));
    const parent = options.parent;
    if (parent !== undefined) {
      if (parent.aborted) this.#abort(parent.reason as Error);
      else {
        this.#parent = parent;
        this.#onParentAbort = () => this.#abort(parent.reason as Error);
        parent.addEventListener('abort', this.#onParentAbort, { once: true });
      }
    }
  }

  /** Aborts when the deadline passes, or when the parent signal aborts. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get expired(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Milliseconds left (0 once passed). */
  remainingMs(): number {
    return Math.max(0, this.#at - this.#clock.now());
  }

  /** Throws the abort reason if the deadline passed or the parent aborted. */
  throwIfExpired(): void {
    if (this.expired) throw this.#controller.signal.reason as Error;
  }

  /** The operation ended: release the timer and the parent listener. */
  clear(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#onParentAbort !== undefined) this.#parent?.removeEventListener('abort', this.#onParentAbort);
    this.#onParentAbort = undefined;
  }

  #abort(reason: Error): void {
    if (this.#controller.signal.aborted) return;
    this.#controller.abort(reason);
    this.clear();
  }
}

/** Resolves with `work`'s value, or rejects with the deadline's reason when it passes first. */
export function raceDeadline<T>(work: Promise<T>, deadline: Deadline): Promise<T> {
  if (deadline.expired) return Promise.reject(deadline.signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(deadline.signal.reason as Error);
    deadline.signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        deadline.signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        deadline.signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
