import { ExitCode } from '../errors.js';

/** First delay after a failure; it doubles with each failure in a row. */
export const BACKOFF_BASE_MS = 500;
/** The longest delay between two restarts. */
export const BACKOFF_MAX_MS = 30_000;
/** A process that stayed up this long before failing starts the backoff from the beginning again. */
export const BACKOFF_RESET_MS = 60_000;

/**
 * Delay before restarting after the `failures`-th failure in a row (1-based):
 * 0.5 s, 1 s, 2 s, 4 s, 8 s, 16 s, then 30 s.
 */
export function backoffDelayMs(failures: number, baseMs = BACKOFF_BASE_MS, maxMs = BACKOFF_MAX_MS): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
}

/** How a process ended, as the supervisor sees it. */
export interface ExitFacts {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** It had been consuming (a process that dies on a message is not a failed start, however soon). */
  started: boolean;
  /** How long it was up, in ms. */
  uptimeMs: number;
}

/** What to do with a process slot after its process ended on its own (not stopped by the supervisor). */
export type RestartDecision =
  /** Exit 0 (TTL, maxMessages, memory recycling): start a fresh one now. */
  | { action: 'restart'; delayMs: 0; reason: 'clean-exit' }
  /** A failure: start again after `delayMs`. */
  | { action: 'restart'; delayMs: number; reason: 'failure' | 'failed-start' | 'broker-unreachable' }
  /** Exit 2, or too many failed starts: never again until a reload. */
  | { action: 'fatal'; reason: 'config-error' | 'too-many-failed-starts' };

export interface SlotCounters {
  /** Failures in a row since the last clean exit or long run. */
  failures: number;
  /** Failed starts in a row since the last successful start. */
  startFailures: number;
}

/**
 * The restart policy, in one pure function (it updates `counters`):
 * - exit 0 → restart at once; the failure counters are cleared;
 * - exit 2 (configuration error) → FATAL at once: restarting cannot help;
 * - exit 3 (broker unreachable after retries) → restart with growing backoff, never FATAL: the broker
 *   coming back must be enough for work to resume;
 * - any other ending before the process had been consuming is a failed start;
 *   after `startRetries` retries the slot goes FATAL (as supervisord: 1 + startRetries tries in all);
 * - any other ending after it had started → restart with growing backoff (reset after a long run).
 */
export function decideRestart(exit: ExitFacts, counters: SlotCounters, startRetries: number): RestartDecision {
  if (exit.signal === null && exit.code === ExitCode.OK) {
    counters.failures = 0;
    if (exit.started) counters.startFailures = 0;
    return { action: 'restart', delayMs: 0, reason: 'clean-exit' };
  }
  if (exit.signal === null && exit.code === ExitCode.CONFIG) return { action: 'fatal', reason: 'config-error' };
  if (exit.uptimeMs >= BACKOFF_RESET_MS) counters.failures = 0;
  counters.failures += 1;
  if (exit.signal === null && exit.code === ExitCode.BROKER_UNREACHABLE) {
    return { action: 'restart', delayMs: backoffDelayMs(counters.failures), reason: 'broker-unreachable' };
  }
  if (!exit.started) {
    counters.startFailures += 1;
    if (counters.startFailures > startRetries) return { action: 'fatal', reason: 'too-many-failed-starts' };
    return { action: 'restart', delayMs: backoffDelayMs(counters.startFailures), reason: 'failed-start' };
  }
  counters.startFailures = 0;
  return { action: 'restart', delayMs: backoffDelayMs(counters.failures), reason: 'failure' };
}

/** `code 1`, `signal SIGKILL`, plus a hint for the endings that have a well-known cause. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal !== null) {
    const hint = signal === 'SIGKILL' ? ' (killed: kill -9, or the kernel out-of-memory killer)' : signal === 'SIGABRT' ? ' (aborted: heap exhaustion?)' : '';
    return `signal ${signal}${hint}`;
  }
  const hint =
    code === ExitCode.CONFIG ? ' (configuration error)' : code === ExitCode.BROKER_UNREACHABLE ? ' (broker unreachable)' : code === 134 ? ' (aborted: heap exhaustion?)' : '';
  return `code ${code ?? '?'}${hint}`;
}
