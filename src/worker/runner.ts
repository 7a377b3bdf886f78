import type { ErrorInfo } from '../errors.js';
import type { DeliveryData, Settlement } from './settlement.js';
import type { ShutdownReason } from './shutdown-reason.js';

/** What a runner reports back to the consumer, by delivery id. */
export interface RunnerEvents {
  /** The callback (or `shutdown()`) settled the message. */
  settle(id: number, settlement: Settlement): void;
  /** The callback returned (`error` undefined) or threw. */
  done(id: number, error: ErrorInfo | undefined): void;
  /** The isolate ended while callbacks ran: each of them needs `shutdown()`. The runner starts a new isolate itself. */
  crash(reason: ShutdownReason, error: unknown): void;
  /** Callbacks can no longer run (a new isolate failed to start): the process must end. */
  failed(error: unknown): void;
}

/** Runs callbacks somewhere: on the main thread, or in a heap-limited isolate. */
export interface CallbackRunner {
  /** Loads the worker where callbacks will run; throws when the worker cannot load. */
  start(events: RunnerEvents): Promise<void>;
  /** Starts the callback for one delivery. */
  dispatch(data: DeliveryData): void;
  /** Runs `WorkerTask.shutdown()` for one interrupted message; its settlement arrives through `events.settle`. */
  shutdown(data: DeliveryData, reason: ShutdownReason, error: unknown): Promise<void>;
  /** Aborts the signal of one callback (its deadline passed). */
  abort(id: number, reason: string): void;
  /**
   * Replaces the isolate whose callback ignored its aborted signal; the other callbacks there get
   * `shutdown('stop-timeout')` through the crash event. False when that is impossible (main thread).
   */
  recycle(): boolean;
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
