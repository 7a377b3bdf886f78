/** The part of a logger a lifecycle writes to. */
export interface TransitionLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** For each state, the states it may move to. A state missing from its own list cannot be re-entered. */
export type TransitionTable<S extends string> = { readonly [K in S]: readonly S[] };

/**
 * An explicit state with one guarded transition function, as Temporal's worker keeps its state: every
 * change is checked against the table and logged; an illegal one is refused (logged, and `to()` returns
 * false) instead of silently overwriting the state — which is how a worker once logged "consuming" after
 * "SIGTERM received". Used by the worker process, the broker link and the supervisor's process slots.
 */
export class Lifecycle<S extends string> {
  #state: S;
  readonly #what: string;
  readonly #table: TransitionTable<S>;
  readonly #log: TransitionLog | undefined;
  readonly #onChange: ((from: S, to: S) => void) | undefined;

  constructor(what: string, initial: S, table: TransitionTable<S>, options: { log?: TransitionLog; onChange?: (from: S, to: S) => void } = {}) {
    this.#what = what;
    this.#state = initial;
    this.#table = table;
    this.#log = options.log;
    this.#onChange = options.onChange;
  }

  get state(): S {
    return this.#state;
  }

  /** True when the current state is one of `states`. */
  is(...states: S[]): boolean {
    return states.includes(this.#state);
  }

  /** Whether `next` is allowed from the current state. */
  can(next: S): boolean {
    return this.#table[this.#state].includes(next);
  }

  /**
   * Moves to `next` if the table allows it from the current state; returns false (and changes nothing)
   * when it does not. `why` goes into the log line.
   */
  to(next: S, why: string): boolean {
    const from = this.#state;
    if (!this.#table[from].includes(next)) {
      this.#log?.debug(`${this.#what}: ${from} → ${next} refused (${why})`, { from, to: next });
      return false;
    }
    this.#state = next;
    this.#log?.debug(`${this.#what}: ${from} → ${next} (${why})`, { from, to: next });
    this.#onChange?.(from, next);
    return true;
  }
}
