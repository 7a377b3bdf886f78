import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Channel, ConsumeMessage } from 'amqplib';
import { AckBatcher } from '../../src/broker/ack-batcher.js';
import type { ConfirmLink } from '../../src/broker/confirm-link.js';
import { DELAY_DELIVERY_EXCHANGE } from '../../src/broker/delay-topology.js';
import { DelayedDelivery } from '../../src/broker/delayed-delivery.js';
import type { BrokerSession } from '../../src/broker/session.js';
import { Logger } from '../../src/log/logger.js';
import { Consumer, OUTAGE_VERDICT_MS } from '../../src/worker/consumer.js';
import { normalizeSettings, type WorkerSettings } from '../../src/worker/options.js';
import type { CallbackRunner, RunnerEvents } from '../../src/worker/runner.js';
import type { DeliveryData } from '../../src/worker/settlement.js';
import { Settler } from '../../src/worker/settler.js';
import { ManualClock } from '../helpers/manual-clock.js';

/**
 * The Consumer's decisions, without a broker: a runner that only records, a session whose channel only
 * records, a publishing link that records every copy and confirms it routed — and time on a manual clock.
 * (The same paths against the real broker: test/integration/worker-*.test.ts, hardening*.test.ts.)
 */
function harness(overrides: Partial<WorkerSettings> = {}) {
  const clock = new ManualClock();
  const settings = normalizeSettings({ queue: 'q', ...overrides });
  const sent: string[] = [];
  const channel = {
    ack: (m: { fields: { deliveryTag: number } }, multiple: boolean) => sent.push(`ack ${m.fields.deliveryTag}${multiple ? '+' : ''}`),
    reject: (m: { fields: { deliveryTag: number } }, requeue: boolean) => sent.push(`reject ${m.fields.deliveryTag}${requeue ? ' requeue' : ''}`),
  } as unknown as Channel;
  let deliver: (message: ConsumeMessage) => void = () => {};
  const session = {
    acks: new AckBatcher(channel),
    closed: false,
    consume: async (_queue: string, onMessage: (m: ConsumeMessage) => void) => {
      deliver = onMessage;
    },
    cancel: async () => {},
  };
  const copies: Array<{ exchange: string; routingKey: string; headers: Record<string, unknown> }> = [];
  const anything = new Proxy({}, { get: () => async () => ({}) }) as unknown as Channel;
  const link = {
    publish: async (exchange: string, routingKey: string, _body: Buffer, properties: { headers?: Record<string, unknown> }) => {
      copies.push({ exchange, routingKey, headers: properties.headers ?? {} });
      return 'routed' as const;
    },
    declare: async <T>(_deadline: unknown, work: (ch: Channel) => Promise<T>) => work(anything),
  } as unknown as ConfirmLink;
  const dispatched: DeliveryData[] = [];
  const aborted: number[] = [];
  const recycled: number[] = [];
  let events: RunnerEvents | undefined;
  const runner: CallbackRunner = {
    hasQuarantineLane: true,
    start: async (e) => void (events = e),
    dispatch: (data) => void dispatched.push(data),
    shutdown: async () => {},
    abort: (id) => void aborted.push(id),
    recycle: (id) => (recycled.push(id), true),
    interrupt: async () => {},
    memoryMb: () => 0,
    close: async () => {},
  };
  const logger = new Logger(undefined);
  for (const level of ['debug', 'info', 'warn', 'error', 'critical'] as const) logger[level] = () => {};
  const consumer = new Consumer({ settings, worker: 'w', runner, logger, clock });
  const settler = new Settler({ queue: 'q', queueType: settings.queueType, worker: 'w', logger, settings, copies: link, delays: new DelayedDelivery(link), redeclare: async () => {}, clock, onSettled: (d, o) => consumer.settled(d, o) });
  let tag = 0;
  const message = (id: string, options: { redelivered?: boolean; headers?: Record<string, unknown>; exchange?: string } = {}): ConsumeMessage => {
    tag++;
    session.acks.track(tag);
    return { fields: { deliveryTag: tag, redelivered: options.redelivered ?? false, exchange: options.exchange ?? '', routingKey: 'q', consumerTag: 'c' }, properties: { messageId: id, headers: options.headers ?? {} }, content: Buffer.from('{}') } as unknown as ConsumeMessage;
  };
  const start = async (): Promise<void> => {
    await runner.start(consumer.events);
    await consumer.start(session as unknown as BrokerSession, settler, () => {});
  };
  const settled = (): Promise<void> => settler.idle().then(() => new Promise((resolve) => setImmediate(resolve)));
  return { clock, consumer, start, deliver: (m: ConsumeMessage) => deliver(m), message, dispatched, aborted, recycled, sent, copies, events: () => events as RunnerEvents, settled };
}

describe('Consumer (no broker, a manual clock)', () => {
  it('acks what the callback acked; retries a throw through the delay levels, acking the original after the copy', async () => {
    const h = harness();
    await h.start();
    h.deliver(h.message('a'));
    h.deliver(h.message('b'));
    assert.deepEqual(h.dispatched.map((d) => [d.properties.messageId, d.attempt]), [['a', 1], ['b', 1]]);
    const [a, b] = h.dispatched as [DeliveryData, DeliveryData];
    h.events().settle(a.id, { kind: 'ack' });
    h.events().done(a.id, undefined);
    h.events().done(b.id, { name: 'Error', message: 'boom' });
    await h.settled();
    assert.equal(h.copies.length, 1);
    assert.match(h.copies[0]?.exchange ?? '', /^rabbit-worker\.delay\.\d\d$/, 'into a delay level');
    assert.equal(h.copies[0]?.headers['x-rabbit-worker-attempts'], 1);
    assert.equal(h.copies[0]?.headers['x-rabbit-worker-error'], 'Error: boom');
    assert.deepEqual(h.sent, ['ack 2+'], "both acked in one multiple ack, once b's copy was confirmed");
    assert.equal(h.consumer.handled, 2);
  });

  it('messageTimeout: aborts and retries past the deadline, then recycles a callback that ignores it', async () => {
    const h = harness({ messageTimeout: 2 });
    await h.start();
    h.deliver(h.message('slow'));
    const [slow] = h.dispatched as [DeliveryData];
    // swept every 500 ms: past 2 s at the 2.5 s sweep; ignored for more than the 1 s grace at the 4 s sweep
    h.clock.advance(2000);
    assert.deepEqual(h.aborted, []);
    h.clock.advance(500);
    assert.deepEqual(h.aborted, [slow.id]);
    await h.settled();
    assert.equal(h.copies.length, 1, 'retried once');
    h.clock.advance(1000);
    assert.deepEqual(h.recycled, []);
    h.clock.advance(500);
    assert.deepEqual(h.recycled, [slow.id], 'recycled after the grace');
  });

  it('a redelivery past maxAttempts waits for an outage announcement: announced, it runs uncounted; not, it is dead-lettered', async () => {
    const h = harness({ maxAttempts: 2 });
    await h.start();
    h.deliver(h.message('returned', { redelivered: true, headers: { 'x-delivery-count': 2 } }));
    h.deliver(h.message('crashed', { redelivered: true, headers: { 'x-delivery-count': 2 } }));
    assert.equal(h.dispatched.length, 0, 'attempt 3 > 2: neither runs yet');
    h.consumer.journal.remember(['returned']);
    h.clock.advance(OUTAGE_VERDICT_MS);
    await h.settled();
    assert.deepEqual(h.dispatched.map((d) => [d.properties.messageId, d.attempt]), [['returned', 2]], 'the announced return runs, not counted');
    assert.deepEqual(h.copies.map((c) => [c.routingKey, c.headers['x-rabbit-worker-reason']]), [['q.dlq', 'delivered 3 times, more than maxAttempts (2); the earlier deliveries were given back (nack) or did not settle: the process, its isolate or its connection died while the callback ran']]);
  });

  it('the dead-letter reason says how the last delivery here ended: nack() by the callback, an isolate out of memory', async () => {
    const h = harness({ maxAttempts: 2 });
    await h.start();
    h.deliver(h.message('nacked'));
    h.deliver(h.message('hog'));
    const [nacked, hog] = h.dispatched as [DeliveryData, DeliveryData];
    h.events().settle(nacked.id, { kind: 'nack' });
    h.events().done(nacked.id, undefined);
    h.events().crash([hog.id], 'out-of-memory', new Error('oom'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    await h.settled();
    for (const id of ['nacked', 'hog']) h.deliver(h.message(id, { redelivered: true, headers: { 'x-delivery-count': 2 } }));
    h.clock.advance(OUTAGE_VERDICT_MS);
    await h.settled();
    const reasons = Object.fromEntries(h.copies.filter((c) => c.routingKey === 'q.dlq').map((c) => [c.headers['x-rabbit-worker-reason'], true]));
    assert.deepEqual(Object.keys(reasons).sort(), [
      'delivered 3 times, more than maxAttempts (2); on its last delivery here, its callback exhausted the heap of its isolate (memoryLimitMb)',
      'delivered 3 times, more than maxAttempts (2); on its last delivery here, its callback gave it back with nack()',
    ]);
  });

  it('suspects run in the quarantine lane one at a time; their copies come back uncounted', async () => {
    const h = harness({ prefetch: 10 });
    await h.start();
    h.deliver(h.message('s1', { exchange: DELAY_DELIVERY_EXCHANGE, headers: { 'x-rabbit-worker-suspect': true, 'x-rabbit-worker-attempts': 1 } }));
    h.deliver(h.message('s2', { exchange: DELAY_DELIVERY_EXCHANGE, headers: { 'x-rabbit-worker-suspect': true } }));
    h.deliver(h.message('healthy'));
    assert.deepEqual(h.dispatched.map((d) => d.properties.messageId), ['s1', 'healthy'], 's2 waits for s1; healthy does not');
    const [s1, healthy] = h.dispatched as [DeliveryData, DeliveryData];
    assert.equal(s1.attempt, 2);
    // healthy and s1 die together in an isolate: both come back as suspects, that attempt not counted
    h.events().crash([s1.id, healthy.id], 'out-of-memory', new Error('oom'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    await h.settled();
    const suspectCopies = h.copies.filter((c) => c.headers['x-rabbit-worker-suspect'] === true);
    assert.deepEqual(suspectCopies.map((c) => c.headers['x-rabbit-worker-attempts']).sort(), [0, 1]);
    assert.deepEqual(h.dispatched.map((d) => d.properties.messageId), ['s1', 'healthy', 's2'], 's2 starts once s1 is done');
  });
});
