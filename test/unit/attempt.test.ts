import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import { DELAY_DELIVERY_EXCHANGE, delayLevelName } from '../../src/broker/delay-topology.js';
import { assess } from '../../src/worker/attempt-policy.js';

const message = (headers: Record<string, unknown>, redelivered = false, exchange = ''): ConsumeMessage =>
  ({ fields: { redelivered, deliveryTag: 1, exchange, routingKey: 'q', consumerTag: 'c' }, properties: { headers }, content: Buffer.alloc(0) }) as unknown as ConsumeMessage;
/** A copy that rabbit-worker published: it comes through the delay topology. */
const copy = (headers: Record<string, unknown>, redelivered = false): ConsumeMessage => message(headers, redelivered, DELAY_DELIVERY_EXCHANGE);

describe('attempt policy', () => {
  it('is 1 on a first delivery', () => {
    assert.equal(assess(message({}), 'quorum').attempt, 1);
    assert.equal(assess(message({}), 'classic').attempt, 1);
  });

  it('counts the broker returns of a quorum message on top of the attempts its copy carries', () => {
    assert.equal(assess(message({ 'x-delivery-count': 2 }, true), 'quorum').attempt, 3);
    // a retried copy that was then returned once by a crash
    assert.equal(assess(copy({ 'x-rabbit-worker-attempts': 2, 'x-delivery-count': 1 }, true), 'quorum').attempt, 4);
    // a copy whose last hop was a delay level is as trusted as one from the delivery exchange
    assert.equal(assess(message({ 'x-rabbit-worker-attempts': 2 }, false, delayLevelName(3)), 'quorum').attempt, 3);
  });

  it('counts a classic redelivery once on top of the carried attempts, and asks for a recount', () => {
    assert.deepEqual(assess(message({}, true), 'classic'), { attempt: 2, suspect: false, recount: true, trusted: false });
    assert.equal(assess(copy({ 'x-rabbit-worker-attempts': 3 }), 'classic').attempt, 4);
    assert.equal(assess(copy({ 'x-rabbit-worker-attempts': 3 }, true), 'classic').attempt, 5);
  });

  it('does not believe a publisher: our markers count only on our own copies, x-delivery-count only on a redelivery', () => {
    // defect 8.9: a publisher setting these sent a healthy message to the dead-letter queue unrun, or made it a suspect
    assert.deepEqual(assess(message({ 'x-rabbit-worker-attempts': 999, 'x-rabbit-worker-suspect': true }), 'quorum'), { attempt: 1, suspect: false, recount: false, trusted: false });
    assert.equal(assess(message({ 'x-delivery-count': 999 }), 'quorum').attempt, 1);
    assert.equal(assess(copy({ 'x-rabbit-worker-suspect': true }), 'quorum').suspect, true);
  });

  it('does not count a stale x-delivery-count that a copy carries from its original (defect 8.6: 1, 2, 4)', () => {
    // the retry copy of a message nacked once (count 1) and then failed: attempt 3, not 4
    assert.equal(assess(copy({ 'x-rabbit-worker-attempts': 2, 'x-delivery-count': 1 }, false), 'quorum').attempt, 3);
  });
});
