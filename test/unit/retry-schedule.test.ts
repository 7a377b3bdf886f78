import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jittered, RETRY_JITTER, retryDelayFor } from '../../src/worker/retry-schedule.js';

const schedule = { retryDelayMs: 1000, retryBackoff: 4, retryMaxDelayMs: 60_000 };

describe('retry schedule', () => {
  it('grows exponentially from retryDelayMs and is capped', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((a) => retryDelayFor(a, schedule)), [1000, 4000, 16_000, 60_000, 60_000]);
  });

  it('retries at once when retryDelayMs is 0', () => {
    assert.equal(retryDelayFor(3, { ...schedule, retryDelayMs: 0 }), 0);
  });

  it('jitters only downwards, by at most RETRY_JITTER', () => {
    assert.equal(jittered(1000, () => 0), 1000);
    assert.equal(jittered(1000, () => 0.999999), Math.round(1000 * (1 - RETRY_JITTER * 0.999999)));
    for (let i = 0; i < 100; i++) {
      const d = jittered(5000);
      assert.ok(d <= 5000 && d >= 5000 * (1 - RETRY_JITTER));
    }
  });
});
