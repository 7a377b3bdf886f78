import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sleep } from '../../src/clock.js';
import { Deadline, raceDeadline } from '../../src/deadline.js';
import { ManualClock } from '../helpers/manual-clock.js';

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

describe('Deadline', () => {
  it('aborts its signal when the time passes, with the reason it was given', () => {
    const clock = new ManualClock();
    const deadline = new Deadline(1000, () => new Error('too late'), { clock });
    clock.advance(999);
    assert.equal(deadline.expired, false);
    assert.equal(deadline.remainingMs(), 1);
    clock.advance(1);
    assert.equal(deadline.expired, true);
    assert.equal((deadline.signal.reason as Error).message, 'too late');
    assert.throws(() => deadline.throwIfExpired(), /too late/);
  });

  it('follows its parent, and clear() stops it', () => {
    const clock = new ManualClock();
    const parent = new AbortController();
    const deadline = new Deadline(1000, () => new Error('late'), { clock, parent: parent.signal });
    parent.abort(new Error('closing'));
    assert.equal((deadline.signal.reason as Error).message, 'closing');
    const cleared = new Deadline(10, () => new Error('never'), { clock });
    cleared.clear();
    clock.advance(100);
    assert.equal(cleared.expired, false);
  });

  it('fires even when nothing but the deadline refers to its timer and the GC runs (defect 8.2)', async () => {
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'function', 'tests run with --expose-gc');
    // AbortSignal.any([AbortSignal.timeout(ms)]) could be collected on Node 20 and never abort; this cannot
    const never = new Promise<void>(() => {});
    const started = Date.now();
    const work = raceDeadline(never, new Deadline(300, () => new Error('deadline passed')));
    const collecting = setInterval(gc, 20);
    try {
      await assert.rejects(work, /deadline passed/);
    } finally {
      clearInterval(collecting);
    }
    assert.ok(Date.now() - started < 2000, `rejected after ${Date.now() - started} ms`);
  });

  it('sleep() on the clock ends early when its signal aborts', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const slept = sleep(10_000, controller.signal, clock);
    controller.abort(new Error('stop'));
    await assert.rejects(slept, /stop/);
    const done = sleep(500, undefined, clock);
    clock.advance(500);
    await done;
  });
});
