import type { MetricSnapshot } from '../metrics/snapshot.js';

/** What a worker process tells its supervisor over the IPC channel, when it has one: at each state change, and every 250 ms while its counts change. */
export interface WorkerStatusReport {
  type: 'rabbit-worker:status';
  state: WorkerState;
  queue: string;
  /** Seconds its callbacks get when it is stopped: the supervisor waits that long (plus a margin) before SIGKILL. */
  stopTimeout: number;
  handled: number;
  /** Deliveries it holds unacked: callbacks running, and settled ones whose copy (retry, dead letter) the broker has not confirmed yet. */
  inflight: number;
  /** Message ids (or `#n`) of the callbacks running now. */
  inflightIds: string[];
}

/**
 * - `starting`: loading the worker, connecting, declaring queues;
 * - `running`: consuming;
 * - `reconnecting`: the connection was lost; reconnecting with backoff (callbacks in flight go on);
 * - `draining`: no new deliveries; callbacks in flight finish (up to `stopTimeout`);
 * - `stopped`: channel and connection closed; the process exits.
 */
export type WorkerState = 'starting' | 'running' | 'reconnecting' | 'draining' | 'stopped';

/** Sends a report to the parent process if it listens (the embedded supervisor); otherwise nothing. */
export function sendStatus(report: WorkerStatusReport): void {
  if (typeof process.send === 'function' && process.connected) {
    try {
      process.send(report);
    } catch {
      // the supervisor went away; the report was only informative
    }
  }
}

/** What a worker process tells its supervisor before it exits because of an error: the cause, for `status`. */
export interface WorkerFailureReport {
  type: 'rabbit-worker:failure';
  /** The error's code (`BROKER_ACCESS_REFUSED`, `CONFIG_INVALID`, …), if it has one. */
  code?: string;
  /** One line. */
  message: string;
  exitCode: number;
}

/** Sends the failure to the supervisor (if any) and resolves once it left, or after 500 ms. */
export function sendFailure(report: Omit<WorkerFailureReport, 'type'>): Promise<void> {
  if (typeof process.send !== 'function' || !process.connected) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 500);
    try {
      process.send?.({ type: 'rabbit-worker:failure', ...report } satisfies WorkerFailureReport, undefined, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

/**
 * What a worker process sends its supervisor every few seconds, and once more as it stops: its metrics in
 * prom-client's JSON (empty with `metrics: false`) and its resident memory.
 */
export interface WorkerMetricsReport {
  type: 'rabbit-worker:metrics';
  metrics: MetricSnapshot[];
  /** Resident set size of the process, isolates included, in MB. */
  rssMb: number;
}

/** Sends a metrics report if a supervisor listens; resolves once it left (or after 500 ms), for the last one before exit. */
export function sendMetrics(report: Omit<WorkerMetricsReport, 'type'>): Promise<void> {
  if (typeof process.send !== 'function' || !process.connected) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 500);
    try {
      process.send?.({ type: 'rabbit-worker:metrics', ...report } satisfies WorkerMetricsReport, undefined, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}
