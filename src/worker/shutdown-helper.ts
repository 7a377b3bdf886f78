import type { ShutdownReason } from './shutdown-reason.js';

/** Runs `shutdown()` for one message; resolves when it returned, or rejects with its error. */
export type ShutdownHandler<M> = (message: M, reason: ShutdownReason, error: unknown) => Promise<void>;

/**
 * The specification's ShutdownHelper. Before each callback the framework arms it with the message; after
 * the callback it disarms it. If the process (or the callback's isolate) ends in between, `fire()` calls the
 * handler — `WorkerTask.shutdown()` — once for each message still armed, within a bounded time.
 */
export class ShutdownHelper<M> {
  readonly #armed = new Set<M>();
  readonly #handler: ShutdownHandler<M>;

  constructor(handler: ShutdownHandler<M>) {
    this.#handler = handler;
  }

  /** Before the callback: if the process ends now, `shutdown()` runs for this message. */
  arm(message: M): void {
    this.#armed.add(message);
  }

  /** After the callback: nothing to do for this message any more. */
  disarm(message: M): void {
    this.#armed.delete(message);
  }

  /** The messages whose callbacks are running. */
  get armed(): ReadonlySet<M> {
    return this.#armed;
  }

  /**
   * Calls the handler once for each of `messages` that is armed (each is disarmed first, so never twice),
   * all at once, and waits for them up to `timeoutMs`. Resolves to the messages whose handler failed or did
   * not finish in time.
   */
  async fire(messages: Iterable<M>, reason: ShutdownReason, error: unknown, timeoutMs: number): Promise<{ failed: M[]; errors: unknown[] }> {
    const firing = [...messages].filter((message) => this.#armed.delete(message));
    if (firing.length === 0) return { failed: [], errors: [] };
    const failed: M[] = [];
    const errors: unknown[] = [];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    await Promise.all(
      firing.map(async (message) => {
        try {
          const outcome = await Promise.race([this.#handler(message, reason, error).then(() => 'done' as const), deadline]);
          if (outcome === 'timeout') {
            failed.push(message);
            errors.push(new Error(`shutdown() did not finish within ${timeoutMs} ms`));
          }
        } catch (handlerError) {
          failed.push(message);
          errors.push(handlerError);
        }
      }),
    );
    clearTimeout(timer);
    return { failed, errors };
  }
}
