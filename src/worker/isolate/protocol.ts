import type { ErrorInfo } from '../../errors.js';
import type { LogDestination } from '../../log/logger.js';
import type { SettingsOverrides, WorkerSettings } from '../options.js';
import type { DeliveryData, Settlement } from '../settlement.js';
import type { ShutdownReason } from '../shutdown-reason.js';

/** What an isolate is started with. */
export interface IsolateInit {
  file: string;
  /** Final settings; absent for the first isolate, which reports the worker's settings and waits for `start`. */
  settings?: WorkerSettings;
  /** Command-line and config-file values, applied after `initialize()`. */
  overrides?: SettingsOverrides;
  /** Fields on every log line (worker, queue). */
  logBase: Record<string, unknown>;
  /** How the main thread writes its lines (a thread's stdout is never a TTY): the isolate writes alike. */
  log?: LogDestination;
}

/** One callback's news: its settlement, its end (`done`), or both in one record. */
export interface CallbackResult {
  id: number;
  s?: Settlement;
  done?: true;
  e?: ErrorInfo;
}

export type ToIsolate =
  | { t: 'start'; settings: WorkerSettings }
  /** Deliveries without their bodies; `bodies` holds every body back to back (transferred, not copied), `ends` their end offsets. */
  | { t: 'run'; batch: Array<Omit<DeliveryData, 'body'>>; bodies: ArrayBuffer; ends: Uint32Array }
  | { t: 'abort'; id: number; reason: string }
  | { t: 'shutdown'; data: DeliveryData; reason: ShutdownReason; error: ErrorInfo | undefined };

export type FromIsolate =
  | { t: 'settings'; raw: Partial<WorkerSettings> }
  | { t: 'ready' }
  | { t: 'load-error'; error: ErrorInfo }
  /** `acked`: ids whose callback acked and returned (the common case, sent as bare ids); `batch`: the rest. */
  | { t: 'results'; acked: number[]; batch: CallbackResult[] }
  | { t: 'memory'; mb: number }
  | { t: 'shutdown-settle'; id: number; s: Settlement }
  | { t: 'shutdown-done'; id: number; e?: ErrorInfo }
  | { t: 'fatal'; reason: ShutdownReason; error: ErrorInfo };
