import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelayMs, BACKOFF_RESET_MS, decideRestart, describeExit, type SlotCounters } from '../../src/supervisor/restart-policy.js';

const counters = (): SlotCounters => ({ failures: 0, startFailures: 0 });

describe('supervisor restart policy', () => {
  it('backs off 0.5 s, 1 s, 2 s … up to 30 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => backoffDelayMs(n)), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert.equal(backoffDelayMs(0), 0);
  });

  it('restarts at once after exit 0 and clears the failure count', () => {
    const c = { failures: 3, startFailures: 0 };
    assert.deepEqual(decideRestart({ code: 0, signal: null, started: true, uptimeMs: 5000 }, c, 3), { action: 'restart', delayMs: 0, reason: 'clean-exit' });
    assert.equal(c.failures, 0);
  });

  it('never restarts after exit 2', () => {
    assert.deepEqual(decideRestart({ code: 2, signal: null, started: false, uptimeMs: 300 }, counters(), 3), { action: 'fatal', reason: 'config-error' });
    assert.deepEqual(decideRestart({ code: 2, signal: null, started: true, uptimeMs: 300_000 }, counters(), 3), { action: 'fatal', reason: 'config-error' });
  });

  it('goes FATAL after 1 + startRetries failed starts, with growing delays between them', () => {
    const c = counters();
    const failed = { code: 1, signal: null, started: false, uptimeMs: 400 };
    const decisions = [1, 2, 3, 4].map(() => decideRestart(failed, c, 3));
    assert.deepEqual(decisions.slice(0, 3).map((d) => (d.action === 'restart' ? d.delayMs : -1)), [500, 1000, 2000]);
    assert.deepEqual(decisions[3], { action: 'fatal', reason: 'too-many-failed-starts' });
    assert.deepEqual(decideRestart(failed, counters(), 0), { action: 'fatal', reason: 'too-many-failed-starts' });
  });

  it('restarts a crash after a successful start with backoff, reset after a long run', () => {
    const c = counters();
    const crash = { code: null, signal: 'SIGKILL' as const, started: true, uptimeMs: 2000 };
    assert.equal((decideRestart(crash, c, 3) as { delayMs: number }).delayMs, 500);
    assert.equal((decideRestart(crash, c, 3) as { delayMs: number }).delayMs, 1000);
    assert.equal((decideRestart({ ...crash, uptimeMs: BACKOFF_RESET_MS }, c, 3) as { delayMs: number }).delayMs, 500);
    for (let i = 0; i < 10; i++) assert.equal(decideRestart(crash, c, 3).action, 'restart', 'a started worker is never FATAL for crashing');
  });

  it('keeps retrying an unreachable broker (exit 3), never FATAL', () => {
    const c = counters();
    for (let i = 0; i < 20; i++) assert.equal(decideRestart({ code: 3, signal: null, started: false, uptimeMs: 9000 }, c, 3).action, 'restart');
    assert.equal(c.startFailures, 0);
  });

  it('describes endings with their likely cause', () => {
    assert.match(describeExit(null, 'SIGKILL'), /kill -9/);
    assert.match(describeExit(null, 'SIGABRT'), /heap/);
    assert.match(describeExit(2, null), /configuration error/);
    assert.equal(describeExit(1, null), 'code 1');
  });
});
