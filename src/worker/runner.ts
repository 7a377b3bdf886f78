import type { ErrorInfo } from '../errors.js';
import type { IsolateRestartReason } from '../metrics/names.js';
import type { Lane } from './quarantine.js';
import type { DeliveryData, Settlement } from './settlement.js';
import type { ShutdownReason } from './shutdown-reason.js';

/** What a runner reports back to the consumer, by delivery id. */
export interface RunnerEvents {
  /** The callback (or `shutdown()`) settled the message. */
  settle(id: number, settlement: Settlement): void;
  /** The callback returned (`error` undefined) or threw. */
  done(id: number, error: ErrorInfo | undefined): void;
  /**
   * An isolate ended while callbacks ran in it (`ids`): each of them needs `shutdown()`. The runner starts
   * a new isolate itself. `bystanders`: they died because of another callback, not of their own doing.
   */
  crash(ids: number[], reason: ShutdownReason, error: unknown, options?: { bystanders?: boolean }): void;
  /** Callbacks can no longer run (a new isolate failed to start): the process must end. */
  failed(error: unknown): void;
  /** An isolate was replaced (it died, or was recycled past its deadline), for metrics. */
  restarted(reason: IsolateRestartReason): void;
}

/** Runs callbacks somewhere: on the main thread, or in a heap-limited isolate. */
export interface CallbackRunner {
  /** True when suspects can run in a lane of their own, beside healthy messages (callbacks in isolates). */
  readonly hasQuarantineLane: boolean;
  /** Loads the worker where callbacks will run; throws when the worker cannot load. */
  start(events: RunnerEvents): Promise<void>;
  /** Starts the callback for one delivery, in `lane`. */
  dispatch(data: DeliveryData, lane?: Lane): void;
  /** Runs `WorkerTask.shutdown()` for one interrupted message; its settlement arrives through `events.settle`. */
  shutdown(data: DeliveryData, reason: ShutdownReason, error: unknown): Promise<void>;
  /**
   * Aborts the signal of one callback (its deadline passed). Where callbacks run in isolates, that isolate
   * takes no new message from then on (the retried copy goes elsewhere) and stops once the others in it end.
   */
  abort(id: number, reason: string): void;
  /**
   * Callback `id` ignored its aborted signal: replaces what runs it (terminates its isolate now; the other
   * callbacks there get `shutdown('recycled')`, not counted as attempts). False when that is impossible
   * (the main thread: only a new process can free it).
   */
  recycle(id: number): boolean;
  /** Stops the callbacks still running, where that is possible (an isolate is terminated). */
  interrupt(): Promise<void>;
  /**
   * Memory the callbacks hold, in MB: heap used plus external memory (Buffers), which a heap limit does
   * not cap. For an isolate, its latest report. The worker recycles when it passes `memoryLimitMb`.
   */
  memoryMb(): number;
  /** Releases everything; no event after it. */
  close(): Promise<void>;
}
