import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkDelayableQueue,
  DELAY_DELIVERY_EXCHANGE,
  DELAY_LEVELS,
  delayLevelArguments,
  delayLevelName,
  delayRoutingKey,
  delaySeconds,
  entryExchange,
  isDelayExchange,
  MAX_DELAY_SECONDS,
} from '../../src/broker/delay-topology.js';

/** Follows a routing key through the levels as the broker's bindings would: the waits it goes through. */
function route(key: string): number[] {
  const bits = key.split('.').slice(0, DELAY_LEVELS);
  const waits: number[] = [];
  for (let level = DELAY_LEVELS - 1; level >= 0; level--) if (bits[DELAY_LEVELS - 1 - level] === '1') waits.push(2 ** level);
  return waits;
}

describe('delay topology', () => {
  it('rounds a delay up to whole seconds, never down', () => {
    assert.equal(delaySeconds(0), 0);
    assert.equal(delaySeconds(1), 1);
    assert.equal(delaySeconds(1000), 1);
    assert.equal(delaySeconds(1001), 2);
    assert.throws(() => delaySeconds((MAX_DELAY_SECONDS + 1) * 1000), RangeError);
    assert.throws(() => delaySeconds(-1), RangeError);
  });

  it('spells the delay in 28 bits, most significant first, and the waits add up to it', () => {
    for (const seconds of [1, 2, 3, 5, 60, 3600, 86_399, 1_000_000, MAX_DELAY_SECONDS]) {
      const key = delayRoutingKey(seconds, 'resize.image');
      assert.equal(key.split('.').length, DELAY_LEVELS + 2);
      assert.ok(key.endsWith('.resize.image'));
      assert.equal(route(key).reduce((a, b) => a + b, 0), seconds, `${seconds} s`);
    }
    assert.equal(delayRoutingKey(5, 'q'), `${'0.'.repeat(25)}1.0.1.q`);
  });

  it('enters at the level of the highest bit; 0 s goes straight to the delivery exchange', () => {
    assert.equal(entryExchange(0), DELAY_DELIVERY_EXCHANGE);
    assert.equal(entryExchange(1), delayLevelName(0));
    assert.equal(entryExchange(5), delayLevelName(2));
    assert.equal(entryExchange(MAX_DELAY_SECONDS), delayLevelName(27));
  });

  it('level queues hold each message exactly 2^n s and dead-letter at least once into the level below', () => {
    assert.deepEqual(delayLevelArguments(0), {
      'x-queue-type': 'quorum',
      'x-message-ttl': 1000,
      'x-dead-letter-exchange': DELAY_DELIVERY_EXCHANGE,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    assert.equal(delayLevelArguments(10)['x-message-ttl'], 1_024_000);
    assert.equal(delayLevelArguments(10)['x-dead-letter-exchange'], delayLevelName(9));
  });

  it('recognises its own exchanges (the copies a worker trusts) and refuses queue names that would break routing', () => {
    assert.ok(isDelayExchange(DELAY_DELIVERY_EXCHANGE));
    assert.ok(isDelayExchange(delayLevelName(7)));
    assert.ok(!isDelayExchange(''));
    assert.ok(!isDelayExchange('amq.topic'));
    assert.throws(() => checkDelayableQueue('a.*.b'), /"\*" or "#"/);
    assert.throws(() => checkDelayableQueue('x'.repeat(250)), /longer than/);
    checkDelayableQueue('resize-image.v2');
  });
});
