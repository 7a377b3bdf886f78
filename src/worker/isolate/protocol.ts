import type { ErrorInfo } from '../../errors.js';
import type { WorkerSettings } from '../options.js';
import type { DeliveryData, Settlement } from '../settlement.js';
import type { ShutdownReason } from '../shutdown-reason.js';

/** What an isolate is started with. */
export interface IsolateInit {
  file: string;
  settings: WorkerSettings;
  /** Fields on every log line (worker, queue). */
  logBase: Record<string, unknown>;
}

/** One callback's news: its settlement, its end (`done`), or both in one record. */
export interface CallbackResult {
  id: number;
  s?: Settlement;
  done?: true;
  e?: ErrorInfo;
}

export type ToIsolate =
  | { t: 'run'; batch: DeliveryData[] }
  | { t: 'abort'; id: number; reason: string }
  | { t: 'shutdown'; data: DeliveryData; reason: ShutdownReason; error: ErrorInfo | undefined };

export type FromIsolate =
  | { t: 'ready' }
  | { t: 'load-error'; error: ErrorInfo }
  | { t: 'results'; batch: CallbackResult[] }
  | { t: 'memory'; mb: number }
  | { t: 'shutdown-settle'; id: number; s: Settlement }
  | { t: 'shutdown-done'; id: number; e?: ErrorInfo }
  | { t: 'fatal'; reason: ShutdownReason; error: ErrorInfo };
