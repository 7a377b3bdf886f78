import type { MessageAdapter } from './message-adapter.js';
import type { WorkerTask } from './worker-task.js';

/**
 * Runs one callback. The one place where per-message work around `callback()` belongs, wherever callbacks
 * run (an isolate: isolate/entry.ts; the main thread: inline-runner.ts), so that both behave alike.
 * `done` is called exactly once: with nothing when the callback returned, with the error when it threw or
 * its promise rejected. A callback that completes synchronously gets `done` synchronously (no extra turn
 * on the prefetch-1 hot path).
 */
export function invokeCallback(task: WorkerTask, adapter: MessageAdapter, done: (error?: unknown) => void): void {
  let result: unknown;
  try {
    result = task.callback(adapter);
  } catch (error) {
    done(error ?? new Error('callback threw with no reason'));
    return;
  }
  if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
    (result as Promise<unknown>).then(
      () => done(),
      (error: unknown) => done(error ?? new Error('callback rejected with no reason')),
    );
  } else done();
}
