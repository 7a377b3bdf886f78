import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Channel } from 'amqplib';
import { AckBatcher } from '../../src/broker/ack-batcher.js';

/** Records what the batcher sends; the coalescing rule is pure logic, the broker side is tested elsewhere. */
function recorder(): { channel: Channel; sent: string[] } {
  const sent: string[] = [];
  const channel = {
    ack: (m: { fields: { deliveryTag: number } }, multiple: boolean) => sent.push(`ack ${m.fields.deliveryTag}${multiple ? ' multiple' : ''}`),
    reject: (m: { fields: { deliveryTag: number } }, requeue: boolean) => sent.push(`reject ${m.fields.deliveryTag}${requeue ? ' requeue' : ''}`),
  } as unknown as Channel;
  return { channel, sent };
}

describe('AckBatcher', () => {
  it('coalesces the acked head of the delivery order into one multiple ack', () => {
    const { channel, sent } = recorder();
    const b = new AckBatcher(channel);
    [1, 2, 3, 4].forEach((t) => b.track(t));
    b.ack(2);
    b.ack(1);
    b.ack(3);
    b.flush();
    assert.deepEqual(sent, ['ack 3 multiple']);
  });

  it('never covers a delivery still running: later completions go one by one', () => {
    const { channel, sent } = recorder();
    const b = new AckBatcher(channel);
    [1, 2, 3, 4].forEach((t) => b.track(t));
    b.ack(1);
    b.ack(3);
    b.ack(4);
    b.flush();
    assert.deepEqual(sent, ['ack 1 multiple', 'ack 3', 'ack 4']);
    b.ack(2);
    b.flush();
    assert.deepEqual(sent.slice(3), ['ack 2 multiple']);
  });

  it('gives one delivery back with basic.reject (not nack), skips over it, and refuses to settle twice', () => {
    const { channel, sent } = recorder();
    const b = new AckBatcher(channel);
    [1, 2, 3].forEach((t) => b.track(t));
    assert.equal(b.reject(1, true), true);
    assert.equal(b.reject(1, true), false);
    assert.equal(b.ack(1), false);
    b.ack(2);
    b.ack(3);
    b.flush();
    assert.deepEqual(sent, ['reject 1 requeue', 'ack 3 multiple']);
  });

  it('sends nothing once its channel closed', () => {
    const { channel, sent } = recorder();
    const b = new AckBatcher(channel);
    b.track(1);
    b.close();
    assert.equal(b.ack(1), false);
    assert.equal(b.reject(1, true), false);
    b.flush();
    assert.deepEqual(sent, []);
  });

  it('flushes by itself on the next turn of the event loop', async () => {
    const { channel, sent } = recorder();
    const b = new AckBatcher(channel);
    b.track(7);
    b.track(8);
    b.ack(7);
    assert.deepEqual(sent, []);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(sent, ['ack 7 multiple']);
  });

  it('sends at once when the acked delivery is the only one open: nothing to wait for', () => {
    const { channel, sent } = recorder();
    const b = new AckBatcher(channel);
    b.track(1);
    b.ack(1);
    assert.deepEqual(sent, ['ack 1 multiple']);
  });
});
