import { Cron } from 'croner';
import { z } from 'zod';

/**
 * What to do with ticks whose time passed while no supervisor was leading (all down, an election):
 * - `skip`: they are not fired; firing resumes with the next tick (a tick less than
 *   {@link ON_TIME_TOLERANCE_MS} late still fires). As a Kubernetes CronJob with a short
 *   `startingDeadlineSeconds`.
 * - `latest`: the most recent of them is fired once, as soon as a leader is there (its message id names
 *   the tick it stands for); the older ones are not. As a CronJob without `startingDeadlineSeconds`, or
 *   Celery beat catching up on start.
 */
export type MissedPolicy = 'skip' | 'latest';

/** A tick this late (a timer, a takeover a moment after the tick) is still on time under `missed: 'skip'`. */
export const ON_TIME_TOLERANCE_MS = 2000;

/** The shortest `every`: the leader renews its token after every tick, so sub-second ticks would flood it. */
export const MIN_EVERY_MS = 1000;

/** When a schedule fires: every N ms on the epoch's grid, or a cron expression in a time zone. */
export type Trigger = { kind: 'every'; ms: number } | { kind: 'cron'; pattern: string; timezone: string };

/** One entry of `schedules:`, resolved. */
export interface ScheduleConfig {
  /** Its key in `schedules:`; part of every message id it publishes. */
  name: string;
  /** The queue it publishes to (it must exist: a worker declares it). */
  queue: string;
  trigger: Trigger;
  /** The message body, as JSON. */
  payload: unknown;
  missed: MissedPolicy;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `'5m'`, `'90s'`, `'1h30m'`, `'1d'` → milliseconds; undefined when it does not parse. Units: ms, s, m, h, d.
 */
export function parseEvery(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^(\d+(ms|s|m|h|d))+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(amount) * (UNITS[unit as string] as number);
  return total;
}

function validTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

const SCHEDULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** One schedule as the config file writes it (checked by the supervisor's config schema). */
export const scheduleSchema = z
  .strictObject({
    /** The queue to publish to. */
    queue: z.string().min(1),
    /** `'5m'`, `'1h30m'`, …: ticks on the grid of that period since 1970-01-01T00:00Z. Exclusive with `cron`. */
    every: z.string().optional(),
    /** Five fields (minute precision) or six (seconds first). Exclusive with `every`. */
    cron: z.string().optional(),
    /** IANA time zone of `cron`. @default 'UTC' */
    timezone: z.string().optional(),
    /** The message body (any JSON). @default {} */
    payload: z.unknown().optional(),
    /** @default 'skip' */
    missed: z.enum(['skip', 'latest']).default('skip'),
  })
  .superRefine((entry, ctx) => {
    const issue = (path: string, message: string): void => ctx.addIssue({ code: 'custom', path: [path], message });
    if ((entry.every === undefined) === (entry.cron === undefined)) issue('every', 'give exactly one of "every" and "cron"');
    if (entry.every !== undefined) {
      const ms = parseEvery(entry.every);
      if (ms === undefined) issue('every', `expected a duration such as "30s", "5m", "1h30m" or "1d", got "${entry.every}"`);
      else if (ms < MIN_EVERY_MS) issue('every', `must be at least 1s, got "${entry.every}"`);
      if (entry.timezone !== undefined) issue('timezone', '"timezone" goes with "cron"; "every" ticks on UTC\'s grid');
    }
    if (entry.timezone !== undefined && !validTimezone(entry.timezone)) issue('timezone', `unknown time zone "${entry.timezone}" (an IANA name such as "Europe/Paris")`);
    if (entry.cron !== undefined && (entry.timezone === undefined || validTimezone(entry.timezone))) {
      try {
        new Cron(entry.cron, { paused: true, ...(entry.timezone !== undefined ? { timezone: entry.timezone } : {}) }).nextRun();
      } catch (error) {
        issue('cron', `invalid cron expression "${entry.cron}": ${(error as Error).message}`);
      }
    }
    if (entry.payload !== undefined && JSON.stringify(entry.payload) === undefined) issue('payload', 'must be JSON');
  });

/** `scheduler:` (optional): which election the supervisor takes part in. */
export const schedulerSchema = z.strictObject({
  /**
   * Supervisors of one group elect one leader, which fires the group's schedules. Give each application
   * sharing a vhost its own group. @default 'default'
   */
  group: z.string().regex(SCHEDULE_NAME, '1-64 letters, digits, ".", "_" and "-"').default('default'),
});

/** The schedules of a config file, resolved (sorted by name, so that every host plans them alike). */
export function resolveSchedules(entries: Record<string, z.output<typeof scheduleSchema>>): ScheduleConfig[] {
  return Object.entries(entries)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, entry]) => ({
      name,
      queue: entry.queue,
      trigger:
        entry.every !== undefined
          ? { kind: 'every', ms: parseEvery(entry.every) as number }
          : { kind: 'cron', pattern: entry.cron as string, timezone: entry.timezone ?? 'UTC' },
      payload: entry.payload ?? {},
      missed: entry.missed,
    }));
}

/** Schedule names follow worker type names: they appear in message ids and logs. */
export const isScheduleName = (name: string): boolean => SCHEDULE_NAME.test(name);
