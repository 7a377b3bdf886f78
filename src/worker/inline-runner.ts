import { toErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { invokeCallback } from './invoke-callback.js';
import { MessageAdapter } from './message-adapter.js';
import type { CallbackRunner, RunnerEvents } from './runner.js';
import type { DeliveryData } from './settlement.js';
import type { ShutdownReason } from './shutdown-reason.js';
import type { WorkerTask } from './worker-task.js';

/**
 * `isolation: 'none'`: callbacks run on the main thread, on the task the runner loaded. Faster, and
 * `shutdown()` sees the state that `callback()` left; but heap exhaustion kills the whole process, and then
 * only the broker's requeue and the delivery count protect the message.
 */
export class InlineRunner implements CallbackRunner {
  readonly hasQuarantineLane = false;
  readonly #task: WorkerTask;
  readonly #logger: Logger;
  readonly #adapters = new Map<number, MessageAdapter>();
  #events: RunnerEvents | undefined;

  constructor(task: WorkerTask, logger: Logger) {
    this.#task = task;
    this.#logger = logger;
  }

  async start(events: RunnerEvents): Promise<void> {
    this.#events = events;
  }

  dispatch(data: DeliveryData): void {
    const events = this.#events as RunnerEvents;
    const adapter = new MessageAdapter(data, (s) => events.settle(data.id, s), this.#logger);
    this.#adapters.set(data.id, adapter);
    invokeCallback(this.#task, adapter, (error) => this.#finish(data.id, error));
  }

  async shutdown(data: DeliveryData, reason: ShutdownReason, error: unknown): Promise<void> {
    const events = this.#events as RunnerEvents;
    const adapter = this.#adapters.get(data.id) ?? new MessageAdapter(data, (s) => events.settle(data.id, s), this.#logger);
    this.#adapters.delete(data.id);
    await this.#task.shutdown(adapter, reason, error);
  }

  abort(id: number, reason: string): void {
    this.#adapters.get(id)?.abort(Object.assign(new Error(reason), { name: 'DeadlineExceeded' }));
  }

  recycle(_id: number): boolean {
    return false;
  }

  async interrupt(): Promise<void> {
    // A callback on the main thread cannot be stopped from outside; its late settle is ignored.
  }

  memoryMb(): number {
    const { heapUsed, external } = process.memoryUsage();
    return (heapUsed + external) / 1048576;
  }

  async close(): Promise<void> {
    this.#adapters.clear();
  }

  #finish(id: number, error: unknown): void {
    if (!this.#adapters.delete(id)) return;
    this.#events?.done(id, error === undefined ? undefined : toErrorInfo(error));
  }
}
