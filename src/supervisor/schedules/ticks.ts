import { Cron } from 'croner';
import { ON_TIME_TOLERANCE_MS, type ScheduleConfig, type Trigger } from './schedule-config.js';

/**
 * Tick arithmetic. Ticks are instants (ms since the epoch) that every host computes alike from the
 * config alone: `every` ticks sit on the grid of their period since 1970-01-01T00:00Z, cron ticks are
 * the expression's instants in its time zone. That is what lets the message id `schedule:<name>:<tick>`
 * name the same tick on every host, so that a duplicate across a failover is recognisable.
 */

const crons = new Map<string, Cron>();

function cronOf(trigger: Extract<Trigger, { kind: 'cron' }>): Cron {
  const key = `${trigger.timezone}\u0000${trigger.pattern}`;
  let cron = crons.get(key);
  if (cron === undefined) {
    cron = new Cron(trigger.pattern, { paused: true, timezone: trigger.timezone });
    crons.set(key, cron);
  }
  return cron;
}

/** The first tick strictly after `after`; undefined when there is none (a cron that never fires again). */
export function nextTick(trigger: Trigger, after: number): number | undefined {
  if (trigger.kind === 'every') return (Math.floor(after / trigger.ms) + 1) * trigger.ms;
  return cronOf(trigger).nextRun(new Date(after))?.getTime();
}

/** The last tick at or before `at`; undefined when there is none. */
export function latestTick(trigger: Trigger, at: number): number | undefined {
  if (trigger.kind === 'every') return Math.floor(at / trigger.ms) * trigger.ms;
  // previousRuns looks strictly before its reference: 1 ms later includes a tick at `at` itself
  return cronOf(trigger).previousRuns(1, new Date(at + 1))[0]?.getTime();
}

/** The id of the message a tick publishes: the same on every host. */
export const tickMessageId = (name: string, tick: number): string => `schedule:${name}:${new Date(tick).toISOString()}`;

/** What the leader does for one schedule at `now`. */
export interface Decision {
  /** The tick to publish now, if any. */
  fire: number | undefined;
  /** Ticks that passed and will never be fired (the policy skipped them). */
  skipped: number;
  /** The latest tick that is settled once `fire` is published: the new "last" of the schedule. */
  settled: number;
  /** When to look again: the next tick after `settled`; undefined if there is none. */
  next: number | undefined;
}

/** How many ticks lie in (from, to]. Counted one by one up to `cap` (a cron's ticks are irregular). */
function ticksBetween(trigger: Trigger, from: number, to: number, cap = 1000): number {
  if (trigger.kind === 'every') return Math.max(0, Math.floor(to / trigger.ms) - Math.floor(from / trigger.ms));
  let count = 0;
  for (let t = nextTick(trigger, from); t !== undefined && t <= to && count < cap; t = nextTick(trigger, t)) count++;
  return count;
}

/**
 * Given the last settled tick of a schedule (from the leader token) and the time, what to fire:
 * - nothing due (no tick in (last, now]): nothing; look again at the next tick;
 * - due ticks: the latest of them is fired when it is on time (at most {@link ON_TIME_TOLERANCE_MS} late)
 *   or when the policy is `latest`; the others are skipped. Either way they are all settled.
 * The same function decides for a timer that fired on time and for a leader that just took over after
 * an outage: there is one rule, and a unit test can drive it with a manual clock.
 */
export function decide(schedule: Pick<ScheduleConfig, 'trigger' | 'missed'>, last: number, now: number): Decision {
  const { trigger, missed } = schedule;
  const due = latestTick(trigger, now);
  if (due === undefined || due <= last) return { fire: undefined, skipped: 0, settled: last, next: nextTick(trigger, Math.max(last, now)) };
  const onTime = now - due <= ON_TIME_TOLERANCE_MS;
  const fire = onTime || missed === 'latest' ? due : undefined;
  const passed = ticksBetween(trigger, last, due);
  return { fire, skipped: fire === undefined ? passed : passed - 1, settled: due, next: nextTick(trigger, due) };
}
