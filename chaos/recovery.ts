import type { Fault } from './faults.js';

/** Index of the first element of sorted `times` greater than `t`. */
function firstAfter(times: Float64Array, t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A silence still running at the end of a window counts as "not recovered" past this. */
const OPEN_AFTER_MS = 1000;

/** The longest silence of one type after a fault. */
export interface Silence {
  ms: number;
  /** Still silent when the window ended (the next fault, or the end of the run with work left). */
  open: boolean;
}

/**
 * The longest silence of one type in [from, until): from `from` (or from a handling after it) to the
 * next handling. The longest silence, not the first handling after the fault, because a callback that was
 * running when the connection closed still finishes (and records) a few ms later, and only then does the
 * type go quiet until it has reconnected. A silence that runs past `until` is cut there and marked open.
 * A silence after `doneAt` (every message of the type handled or dead-lettered) is no outage.
 */
export function longestSilence(times: Float64Array, from: number, until: number, doneAt: number): Silence {
  let last = from;
  let worst = 0;
  for (let i = firstAfter(times, from); i < times.length; i++) {
    const t = times[i] as number;
    if (t >= until) break;
    worst = Math.max(worst, t - last);
    last = t;
  }
  // the silence still running at `until`: an outage if it lasted, noise (a gap between ticks) if short
  const tail = last >= doneAt ? 0 : until - last;
  if (tail <= worst) return { ms: worst, open: false };
  return { ms: tail, open: tail > OPEN_AFTER_MS };
}

/** How long a fault kept worker types from handling messages. */
export interface Recovery {
  fault: Fault;
  /** The longest silence of any type after the fault. */
  ms: number;
  /** Still silent when the next fault began (or, for the last one, when the run ended). */
  open: boolean;
  /** The type that took longest. */
  type: string;
  /** False when the next fault followed too soon to tell. */
  measured: boolean;
}

/** A window shorter than this says nothing about recovery. */
const MIN_WINDOW_MS = 500;

/**
 * For each fault, the worst silence over every type, counted from the moment the fault was over (the
 * kill, the close, start_app's return) until the next fault began. The noise floor is the publishing
 * pace (a type whose queue ran empty is silent until the next 100 ms tick) and, for types that get
 * poison messages, the restarts of their isolates.
 */
export function recoveries(faults: Fault[], timesByType: Map<string, number[]>, doneAtByType: Map<string, number>, endAt: number): Recovery[] {
  const sorted = new Map([...timesByType].map(([type, times]) => [type, Float64Array.from(times).sort()]));
  return faults.map((fault, i) => {
    const until = Math.max(faults[i + 1]?.startedAt ?? endAt, fault.at);
    let worst: Recovery = { fault, ms: 0, open: false, type: '-', measured: until - fault.at >= MIN_WINDOW_MS };
    if (!worst.measured) return worst;
    for (const [type, times] of sorted) {
      const silence = longestSilence(times, fault.at, until, doneAtByType.get(type) ?? Number.POSITIVE_INFINITY);
      if (silence.ms > worst.ms) worst = { ...worst, ...silence, type };
    }
    return worst;
  });
}
