import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BrokerSession } from '../../src/broker/session.js';
import { Logger } from '../../src/log/logger.js';
import { DeadlineSweep, ignoreGraceMs } from '../../src/worker/deadline-sweep.js';
import { Delivery } from '../../src/worker/delivery.js';
import { OutageJournal } from '../../src/worker/outage-journal.js';
import { Quarantine } from '../../src/worker/quarantine.js';
import { ShutdownHelper } from '../../src/worker/shutdown-helper.js';
import { ManualClock } from '../helpers/manual-clock.js';
import type { ConsumeMessage } from 'amqplib';

const quiet = (): Logger => new Logger(undefined);
const session = {} as BrokerSession;
function delivery(id: string, suspect = false): Delivery {
  const message = { fields: { deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'q' }, properties: { messageId: id, headers: {} }, content: Buffer.alloc(0) } as unknown as ConsumeMessage;
  return new Delivery(message, session, 'q', { attempt: 1, suspect, recount: false, trusted: suspect });
}

describe('DeadlineSweep (on a manual clock)', () => {
  it('aborts past messageTimeout, recycles after the grace, warns near consumerTimeout once', () => {
    const clock = new ManualClock();
    const timeouts: string[] = [];
    const ignored: string[] = [];
    const warnings: string[] = [];
    const logger = quiet();
    logger.warn = (msg: string) => void warnings.push(msg);
    const slow = delivery('slow');
    const long = delivery('long');
    const sweep = new DeadlineSweep({
      messageTimeout: 10,
      consumerTimeout: 100,
      logger,
      clock,
      running: () => [slow],
      onTimeout: (d) => void timeouts.push(d.messageId ?? ''),
      onIgnored: (d) => void ignored.push(d.messageId ?? ''),
    });
    slow.startedAt = clock.now();
    sweep.start();
    clock.advance(10_000);
    assert.deepEqual(timeouts, []);
    clock.advance(1000);
    assert.deepEqual(timeouts, ['slow']);
    clock.advance(ignoreGraceMs(10_000) + 1000); // the next sweep after the grace
    assert.deepEqual(ignored, ['slow']);
    clock.advance(60_000);
    assert.deepEqual(ignored, ['slow'], 'recycled once');
    sweep.stop();

    const noLimit = new DeadlineSweep({ messageTimeout: 0, consumerTimeout: 100, logger, clock, running: () => [long], onTimeout: () => assert.fail(), onIgnored: () => assert.fail() });
    long.startedAt = clock.now();
    noLimit.start();
    clock.advance(79_000);
    assert.equal(warnings.length, 0);
    clock.advance(6000);
    clock.advance(30_000);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /near RabbitMQ's consumer_timeout \(consumerTimeout 100s\)/);
    noLimit.stop();
  });
});

describe('Quarantine', () => {
  it('with a lane: healthy messages start at once; suspects run one at a time beside them', () => {
    const q = new Quarantine(true);
    const [a, s1, s2, b] = [delivery('a'), delivery('s1', true), delivery('s2', true), delivery('b')];
    assert.equal(q.admit(a, 0), 'main');
    assert.equal(q.admit(s1, 1), 'quarantine');
    assert.equal(q.admit(s2, 2), undefined, 'a second suspect waits for the first');
    assert.equal(q.admit(b, 2), 'main', 'nothing healthy waits behind a suspect');
    assert.equal(q.next(3), undefined);
    q.finished(s1);
    assert.deepEqual(q.next(2), { delivery: s2, lane: 'quarantine' });
  });

  it('without a lane: a suspect waits until nothing runs, runs alone, and later deliveries wait behind it', () => {
    const q = new Quarantine(false);
    const [a, s, b] = [delivery('a'), delivery('s', true), delivery('b')];
    assert.equal(q.admit(a, 0), 'main');
    assert.equal(q.admit(s, 1), undefined);
    assert.equal(q.admit(b, 1), undefined);
    assert.equal(q.next(1), undefined, 'the suspect waits for a');
    q.finished(a);
    assert.deepEqual(q.next(0), { delivery: s, lane: 'main' });
    assert.equal(q.next(1), undefined, 'b waits while the suspect runs alone');
    q.finished(s);
    assert.deepEqual(q.next(0), { delivery: b, lane: 'main' });
    assert.deepEqual(q.drop(() => false), []);
  });
});

describe('OutageJournal', () => {
  it('discounts one return per announcement, and forgets after a while', () => {
    const clock = new ManualClock();
    const journal = new OutageJournal({ logger: quiet(), clock });
    journal.remember(['m1', 'm2', 'm1']);
    assert.equal(journal.take('m1'), true);
    assert.equal(journal.take('m1'), true);
    assert.equal(journal.take('m1'), false, 'two announcements, two discounts');
    assert.equal(journal.take(undefined), false);
    clock.advance(11 * 60_000);
    assert.equal(journal.take('m2'), false, 'expired');
  });
});

describe('ShutdownHelper', () => {
  it('runs the handler once per armed message of those asked for, bounded, and reports failures', async () => {
    const ran: string[] = [];
    const helper = new ShutdownHelper<string>(async (m) => {
      ran.push(m);
      if (m === 'bad') throw new Error('boom');
      if (m === 'slow') await new Promise((resolve) => setTimeout(resolve, 1000));
    });
    ['ok', 'bad', 'slow', 'other'].forEach((m) => helper.arm(m));
    helper.disarm('other');
    const { failed, errors } = await helper.fire(['ok', 'bad', 'slow', 'other'], 'out-of-memory', undefined, 100);
    assert.deepEqual(ran.sort(), ['bad', 'ok', 'slow']);
    assert.deepEqual(failed.sort(), ['bad', 'slow']);
    assert.equal(errors.length, 2);
    assert.equal(helper.armed.size, 0);
    assert.deepEqual((await helper.fire(['ok'], 'exit', undefined, 100)).failed, [], 'never twice');
  });
});
