import { watchParent } from './parent-watch.js';
import type { ShutdownReason } from './shutdown-reason.js';

export interface GuardHandlers {
  /** SIGTERM or SIGINT; `count` is 2 for a second one at least a second after the first (stop now). */
  signal(signal: NodeJS.Signals, count: number): void;
  /** An error nothing caught, or `process.exit()` called by user code while callbacks ran. */
  fatal(reason: Extract<ShutdownReason, 'uncaught-exception' | 'unhandled-rejection' | 'exit'>, error: unknown): void;
  /** What started this process went away: the supervisor's IPC channel closed, or the parent process died (npx, a shell). */
  orphaned(why: string): void;
}

/** Signals this close together are one: GNU `timeout`, a terminal or an init system signal the process *and* its group. */
export const REPEAT_SIGNAL_MS = 1000;

/**
 * The one place that owns `process.on(...)` for signals and fatal events in a worker process. Installed
 * first thing (so that a SIGTERM while loading is handled too); the worker swaps in its handlers once it
 * runs. With `interceptExit`, a `process.exit()` from user code while callbacks run becomes a
 * `fatal('exit')`, so that `shutdown()` and the nacks happen before the process really exits (exit
 * handlers cannot be async). It also notices when the parent process goes away without a signal reaching
 * us (npx does not pass SIGTERM on): the process is then re-parented, and stops gracefully.
 */
export class ProcessGuard {
  #handlers: GuardHandlers;
  readonly #realExit = process.exit.bind(process);
  readonly #signals = new Map<NodeJS.Signals, { count: number; at: number }>();
  #installed: Array<[string, (...args: never[]) => void]> = [];
  #exiting = false;
  #stopWatching: () => void = () => {};

  constructor(handlers: GuardHandlers) {
    this.#handlers = handlers;
  }

  /** Replaces the handlers (the worker's, once it runs). */
  handle(handlers: GuardHandlers): void {
    this.#handlers = handlers;
  }

  install(): void {
    const on = (event: string, listener: (...args: never[]) => void): void => {
      process.on(event as 'SIGTERM', listener as () => void);
      this.#installed.push([event, listener]);
    };
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      on(signal, () => {
        const now = Date.now();
        const seen = this.#signals.get(signal);
        if (seen !== undefined && now - seen.at < REPEAT_SIGNAL_MS) return; // the same signal, twice
        const count = (seen?.count ?? 0) + 1;
        this.#signals.set(signal, { count, at: now });
        this.#handlers.signal(signal, count);
      });
    }
    on('uncaughtException', (error: unknown) => this.#handlers.fatal('uncaught-exception', error));
    on('unhandledRejection', (error: unknown) => this.#handlers.fatal('unhandled-rejection', error));
    if (typeof process.send === 'function') on('disconnect', () => this.#handlers.orphaned('the supervisor went away (IPC channel closed)'));
    this.#stopWatching = watchParent((why) => this.#handlers.orphaned(why));
  }

  /** While `busy()`, a `process.exit()` from user code is turned into `fatal('exit')`. */
  interceptExit(busy: () => boolean): void {
    process.exit = ((code?: number | string | null) => {
      if (this.#exiting || !busy()) return this.#realExit(code ?? undefined);
      const error = new Error(`process.exit(${code ?? ''}) was called while callbacks ran`);
      this.#handlers.fatal('exit', error);
      throw error; // unwinds the callback that called it; its message is already in shutdown()'s hands
    }) as typeof process.exit;
  }

  /** Ends the process for real, past any interception. */
  exit(code: number): never {
    this.#exiting = true;
    return this.#realExit(code);
  }

  uninstall(): void {
    for (const [event, listener] of this.#installed) process.off(event as 'SIGTERM', listener as () => void);
    this.#installed = [];
    this.#stopWatching();
    process.exit = this.#realExit;
  }
}
