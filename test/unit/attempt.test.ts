import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import { attemptOf } from '../../src/worker/delivery.js';

const message = (headers: Record<string, unknown>, redelivered = false): ConsumeMessage =>
  ({ fields: { redelivered, deliveryTag: 1, exchange: '', routingKey: 'q', consumerTag: 'c' }, properties: { headers }, content: Buffer.alloc(0) }) as unknown as ConsumeMessage;

describe('attemptOf', () => {
  it('is 1 on a first delivery', () => {
    assert.equal(attemptOf(message({}), 'quorum'), 1);
    assert.equal(attemptOf(message({ 'x-delivery-count': 0 }), 'quorum'), 1);
    assert.equal(attemptOf(message({}), 'classic'), 1);
  });

  it('counts the broker returns of a quorum message on top of the attempts its copy carries', () => {
    assert.equal(attemptOf(message({ 'x-delivery-count': 2 }), 'quorum'), 3);
    // a retried copy that was then returned once by a crash
    assert.equal(attemptOf(message({ 'x-rabbit-worker-attempts': 2, 'x-delivery-count': 1 }, true), 'quorum'), 4);
  });

  it('counts a classic redelivery once on top of the carried attempts', () => {
    assert.equal(attemptOf(message({}, true), 'classic'), 2);
    assert.equal(attemptOf(message({ 'x-rabbit-worker-attempts': 3 }), 'classic'), 4);
    assert.equal(attemptOf(message({ 'x-rabbit-worker-attempts': 3 }, true), 'classic'), 5);
  });
});
