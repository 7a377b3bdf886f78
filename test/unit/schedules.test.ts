import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Logger, createPino } from '../../src/log/logger.js';
import { parseConfig } from '../../src/supervisor/config.js';
import { parseEvery, resolveSchedules, scheduleSchema, type ScheduleConfig } from '../../src/supervisor/schedules/schedule-config.js';
import { RETRY_MS, Ticker } from '../../src/supervisor/schedules/ticker.js';
import { decide, latestTick, nextTick, tickMessageId } from '../../src/supervisor/schedules/ticks.js';
import { decodeToken, encodeToken, mergeTicks } from '../../src/supervisor/schedules/token.js';
import { ManualClock } from '../helpers/manual-clock.js';

const T = (iso: string): number => Date.parse(iso);
const every = (name: string, spec: string, missed: 'skip' | 'latest' = 'skip'): ScheduleConfig => ({ name, queue: 'q', trigger: { kind: 'every', ms: parseEvery(spec) as number }, payload: {}, missed });
const cron = (name: string, pattern: string, timezone = 'UTC', missed: 'skip' | 'latest' = 'skip'): ScheduleConfig => ({ name, queue: 'q', trigger: { kind: 'cron', pattern, timezone }, payload: {}, missed });
const quiet = (): Logger => new Logger(createPino({ level: 'silent' }));
/** Lets the ticker's promise chains (fire, persist) run after the clock moved. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('schedule config', () => {
  it('parses durations and refuses what is not one', () => {
    assert.equal(parseEvery('5m'), 300_000);
    assert.equal(parseEvery('1h30m'), 5_400_000);
    assert.equal(parseEvery('2s'), 2000);
    assert.equal(parseEvery('1d'), 86_400_000);
    for (const bad of ['5', 'm', '5 minutes', '-1s', '1.5h', '']) assert.equal(parseEvery(bad), undefined, bad);
  });

  it('names the bad field: both or neither trigger, a bad cron, an unknown time zone, a timezone with every, too fast', () => {
    const issues = (entry: unknown): string => {
      const result = scheduleSchema.safeParse(entry);
      return result.success ? '' : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    };
    assert.match(issues({ queue: 'q' }), /every: give exactly one of "every" and "cron"/);
    assert.match(issues({ queue: 'q', every: '5m', cron: '* * * * *' }), /exactly one/);
    assert.match(issues({ queue: 'q', cron: '61 * * * *' }), /^cron: invalid cron expression "61 \* \* \* \*"/);
    assert.match(issues({ queue: 'q', cron: '0 3 * * *', timezone: 'Mars/Olympus' }), /timezone: unknown time zone "Mars\/Olympus"/);
    assert.match(issues({ queue: 'q', every: '5m', timezone: 'UTC' }), /timezone: "timezone" goes with "cron"/);
    assert.match(issues({ queue: 'q', every: '500ms' }), /every: must be at least 1s/);
    assert.match(issues({ queue: 'q', every: '5m', missed: 'all' }), /^missed: /);
    assert.match(issues({ queue: 'q', every: '5m', later: 1 }), /later/);
    assert.equal(issues({ queue: 'q', cron: '0 3 * * *', timezone: 'Europe/Paris', missed: 'latest', payload: { a: 1 } }), '');
  });

  it('a config file takes schedules: and scheduler:, and names the bad entry', () => {
    const config = parseConfig({ workers: {}, schedules: { nightly: { queue: 'reports', cron: '0 3 * * *', timezone: 'Europe/Paris', missed: 'latest' } }, scheduler: { group: 'billing' } }, '/x/rabbit-worker.config.yaml');
    assert.deepEqual(config.schedules, [{ name: 'nightly', queue: 'reports', trigger: { kind: 'cron', pattern: '0 3 * * *', timezone: 'Europe/Paris' }, payload: {}, missed: 'latest' }]);
    assert.deepEqual(config.scheduler, { group: 'billing' });
    assert.deepEqual(parseConfig({ workers: {} }, '/x/c.yaml').schedules, [], 'none by default');
    assert.throws(() => parseConfig({ workers: {}, schedules: { 'a b': { queue: 'q', every: '5m' } } }, '/x/c.yaml'), /schedules\."a b": schedule names are/);
    assert.throws(() => parseConfig({ workers: {}, schedules: { a: { queue: 'q', every: 'often' } } }, '/x/c.yaml'), /schedules\.a\.every: expected a duration/);
    assert.throws(() => parseConfig({ workers: {}, scheduler: { group: 'a/b' } }, '/x/c.yaml'), /scheduler\.group/);
  });

  it('resolves entries sorted by name, with defaults', () => {
    const resolved = resolveSchedules({
      b: scheduleSchema.parse({ queue: 'qb', cron: '0 3 * * *' }),
      a: scheduleSchema.parse({ queue: 'qa', every: '5m' }),
    });
    assert.deepEqual(resolved, [
      { name: 'a', queue: 'qa', trigger: { kind: 'every', ms: 300_000 }, payload: {}, missed: 'skip' },
      { name: 'b', queue: 'qb', trigger: { kind: 'cron', pattern: '0 3 * * *', timezone: 'UTC' }, payload: {}, missed: 'skip' },
    ]);
  });
});

describe('ticks', () => {
  it('every: on the epoch grid, so that every host names the same tick', () => {
    const five = { kind: 'every', ms: 300_000 } as const;
    assert.equal(nextTick(five, T('2026-01-01T10:02:00Z')), T('2026-01-01T10:05:00Z'));
    assert.equal(nextTick(five, T('2026-01-01T10:05:00Z')), T('2026-01-01T10:10:00Z'), 'strictly after');
    assert.equal(latestTick(five, T('2026-01-01T10:05:00Z')), T('2026-01-01T10:05:00Z'), 'at or before');
    assert.equal(latestTick(five, T('2026-01-01T10:09:59.999Z')), T('2026-01-01T10:05:00Z'));
    assert.equal(tickMessageId('report', T('2026-01-01T10:05:00Z')), 'schedule:report:2026-01-01T10:05:00.000Z');
  });

  it('cron: in its time zone, across a daylight-saving change', () => {
    const paris = { kind: 'cron', pattern: '0 3 * * *', timezone: 'Europe/Paris' } as const;
    // 03:00 in Paris is 02:00Z in winter, 01:00Z in summer (the clocks moved on 2026-03-29)
    assert.equal(nextTick(paris, T('2026-03-28T12:00:00Z')), T('2026-03-29T01:00:00Z'));
    assert.equal(nextTick(paris, T('2026-03-27T12:00:00Z')), T('2026-03-28T02:00:00Z'));
    assert.equal(latestTick(paris, T('2026-03-29T01:00:00Z')), T('2026-03-29T01:00:00Z'), 'a tick exactly now is the latest');
    assert.equal(latestTick(paris, T('2026-03-29T00:59:59Z')), T('2026-03-28T02:00:00Z'));
    const utc = { kind: 'cron', pattern: '*/15 * * * *', timezone: 'UTC' } as const;
    assert.equal(nextTick(utc, T('2026-01-01T10:00:00Z')), T('2026-01-01T10:15:00Z'));
  });

  it('decide: on time → fire; nothing due → nothing; missed while nobody led → skip or the latest, as asked', () => {
    const skip = every('s', '5m');
    const latest = every('l', '5m', 'latest');
    const last = T('2026-01-01T10:00:00Z');
    // the timer woke 30 ms after the tick
    assert.deepEqual(decide(skip, last, T('2026-01-01T10:05:00.030Z')), { fire: T('2026-01-01T10:05:00Z'), skipped: 0, settled: T('2026-01-01T10:05:00Z'), next: T('2026-01-01T10:10:00Z') });
    // nothing due yet
    assert.deepEqual(decide(skip, last, T('2026-01-01T10:04:00Z')), { fire: undefined, skipped: 0, settled: last, next: T('2026-01-01T10:05:00Z') });
    // a leader takes over at 10:17: 10:05, 10:10 and 10:15 passed with nobody leading
    const now = T('2026-01-01T10:17:00Z');
    assert.deepEqual(decide(skip, last, now), { fire: undefined, skipped: 3, settled: T('2026-01-01T10:15:00Z'), next: T('2026-01-01T10:20:00Z') });
    assert.deepEqual(decide(latest, last, now), { fire: T('2026-01-01T10:15:00Z'), skipped: 2, settled: T('2026-01-01T10:15:00Z'), next: T('2026-01-01T10:20:00Z') });
    // a nightly cron whose supervisors were all down for two nights: the last night is fired, once
    const nightly = cron('nightly', '0 3 * * *', 'Europe/Paris', 'latest');
    assert.deepEqual(decide(nightly, T('2026-03-27T02:00:00Z'), T('2026-03-29T09:00:00Z')), {
      fire: T('2026-03-29T01:00:00Z'),
      skipped: 1,
      settled: T('2026-03-29T01:00:00Z'),
      next: T('2026-03-30T01:00:00Z'),
    });
    // 1.5 s late is still on time, under either policy
    assert.equal(decide(skip, last, T('2026-01-01T10:05:01.500Z')).fire, T('2026-01-01T10:05:00Z'));
  });
});

describe('leader token', () => {
  it('round-trips, merges by the later tick, and reads a stray message as empty', () => {
    const body = { v: 1, group: 'g', last: { a: T('2026-01-01T10:00:00Z') }, by: 'host pid 1', at: '2026-01-01T10:00:01.000Z' } as const;
    assert.deepEqual(decodeToken(encodeToken(body)), { a: T('2026-01-01T10:00:00Z') });
    assert.match(encodeToken(body).toString(), /"a":"2026-01-01T10:00:00.000Z"/, 'readable ISO ticks');
    assert.deepEqual(mergeTicks({ a: 1, b: 5 }, { a: 3, c: 2 }), { a: 3, b: 5, c: 2 });
    assert.deepEqual(decodeToken(Buffer.from('not json')), {});
    assert.deepEqual(decodeToken(Buffer.from('{"v":2,"last":{"a":"2026-01-01T00:00:00Z"}}')), {});
  });
});

describe('Ticker on a manual clock', () => {
  function harness(schedules: ScheduleConfig[], start: number, options: { failFirst?: number } = {}) {
    const clock = new ManualClock(start);
    const fired: string[] = [];
    const saved: Array<Record<string, number>> = [];
    let failures = options.failFirst ?? 0;
    const ticker = new Ticker({
      schedules,
      logger: quiet(),
      clock,
      fire: async (schedule, tick) => {
        if (failures > 0) {
          failures--;
          throw new Error('broker away');
        }
        fired.push(tickMessageId(schedule.name, tick));
      },
      persist: async (last) => void saved.push(last),
    });
    const advance = async (ms: number): Promise<void> => {
      // step by 10 ms so that each timer's pass runs before the next one is due
      for (let left = ms; left > 0; left -= Math.min(10, left)) {
        clock.advance(Math.min(10, left));
        await settle();
      }
    };
    return { clock, ticker, fired, saved, advance };
  }

  it('a new schedule starts at its latest tick (fires nothing from before it existed), then fires each tick once', async () => {
    const h = harness([every('ping', '2s')], T('2026-01-01T10:00:01Z'));
    await h.ticker.lead({});
    await settle();
    assert.deepEqual(h.fired, []);
    assert.deepEqual(h.saved.at(-1), { ping: T('2026-01-01T10:00:00Z') }, 'the baseline is saved in the token');
    await h.advance(4000); // to 10:00:05
    assert.deepEqual(h.fired, ['schedule:ping:2026-01-01T10:00:02.000Z', 'schedule:ping:2026-01-01T10:00:04.000Z']);
    assert.deepEqual(h.saved.at(-1), { ping: T('2026-01-01T10:00:04Z') });
  });

  it('not leading, nothing fires; a follower that takes over continues from the token', async () => {
    const h = harness([every('ping', '2s')], T('2026-01-01T10:00:00.500Z'));
    await h.advance(4000);
    assert.deepEqual(h.fired, [], 'a follower fires nothing');
    // the previous leader settled 10:00:02 and died; the token says so; 10:00:04 is 0.5 s ago: on time
    await h.ticker.lead({ ping: T('2026-01-01T10:00:02Z') });
    await settle();
    assert.deepEqual(h.fired, ['schedule:ping:2026-01-01T10:00:04.000Z']);
    h.ticker.follow();
    await h.advance(10_000);
    assert.equal(h.fired.length, 1, 'leadership lost: nothing more');
  });

  it('after a long outage: skip fires nothing for the missed ticks, latest fires the last of them once', async () => {
    const last = { s: T('2026-01-01T10:00:00Z'), l: T('2026-01-01T10:00:00Z') };
    const h = harness([every('s', '5m'), every('l', '5m', 'latest')], T('2026-01-01T10:17:00Z'));
    await h.ticker.lead(last);
    await settle();
    assert.deepEqual(h.fired, ['schedule:l:2026-01-01T10:15:00.000Z']);
    assert.deepEqual(h.ticker.last, { s: T('2026-01-01T10:15:00Z'), l: T('2026-01-01T10:15:00Z') });
    await h.advance(3 * 60_000 + 100);
    assert.deepEqual(h.fired, ['schedule:l:2026-01-01T10:15:00.000Z', 'schedule:s:2026-01-01T10:20:00.000Z', 'schedule:l:2026-01-01T10:20:00.000Z']);
  });

  it('a publish that fails is tried again while its tick is the latest, and settles only once confirmed', async () => {
    const h = harness([every('ping', '1m')], T('2026-01-01T10:00:30Z'), { failFirst: 2 });
    await h.ticker.lead({});
    await h.advance(30_000 + 10);
    assert.deepEqual(h.fired, [], 'first try failed');
    assert.deepEqual(h.ticker.last, { ping: T('2026-01-01T10:00:00Z') }, 'not settled');
    await h.advance(2 * RETRY_MS);
    assert.deepEqual(h.fired, ['schedule:ping:2026-01-01T10:01:00.000Z'], 'fired late, on the second retry');
    assert.deepEqual(h.ticker.last, { ping: T('2026-01-01T10:01:00Z') });
  });

  it('a reload adds a schedule: it starts at its latest tick, the others go on', async () => {
    const h = harness([every('ping', '2s')], T('2026-01-01T10:00:00.500Z'));
    await h.ticker.lead({});
    await h.advance(2000);
    await h.ticker.update([every('ping', '2s'), every('pong', '3s')]);
    await h.advance(1600);
    assert.deepEqual(h.fired, ['schedule:ping:2026-01-01T10:00:02.000Z', 'schedule:pong:2026-01-01T10:00:03.000Z', 'schedule:ping:2026-01-01T10:00:04.000Z']);
    await h.ticker.stop();
    await h.advance(10_000);
    assert.equal(h.fired.length, 3, 'stopped: nothing more');
  });

  it('a duplicate token merges: a later settled tick it knows is not fired again', async () => {
    const h = harness([every('ping', '2s', 'latest')], T('2026-01-01T10:00:04.500Z'));
    h.ticker.merge({ ping: T('2026-01-01T10:00:04Z') });
    await h.ticker.lead({ ping: T('2026-01-01T10:00:00Z') });
    await settle();
    // lead() replaces the state with the token it holds: the merge happened before and is superseded
    assert.deepEqual(h.fired, ['schedule:ping:2026-01-01T10:00:04.000Z']);
    h.ticker.merge({ ping: T('2026-01-01T10:00:06Z') });
    await h.advance(2000);
    assert.deepEqual(h.fired, ['schedule:ping:2026-01-01T10:00:04.000Z'], '10:00:06 was settled by another token: not fired again');
  });
});
