import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqp, { type ChannelModel } from 'amqplib';
import { delayLevelName } from '../../src/broker/delay-topology.js';
import { ErrorCode, Publisher } from '../../src/index.js';
import { uniqueQueue } from '../helpers/broker.js';
import { privateBrokers } from '../helpers/private-broker.js';
import { consuming, fixture, runWorker, type LogLine, type Proc } from '../helpers/process.js';
import { FAST_CHANNEL_TICK, setMemoryAlarm, type BrokerNode } from '../harness/index.js';

const WORKER = fixture('behave-worker.ts');
const callbacks = (lines: LogLine[], id: string): unknown[] => lines.filter((l) => l.msg === 'callback' && l.messageId === id).map((l) => l.attempt);

/**
 * Defects of issue 8 that need a broker in a state nobody else may see: a consumer_timeout of seconds, a
 * memory alarm, a deleted delay level. One private node for the file (test/harness).
 */
describe('hardening on a private broker: consumer_timeout, alarms, a deleted delay level', () => {
  const brokers = privateBrokers();
  let node: BrokerNode;
  let admin: ChannelModel;
  const procs: Proc[] = [];
  const track = (p: Proc): Proc => (procs.push(p), p);

  before(async () => {
    // consumer_timeout in ms; the broker checks it every channel tick (60 s unless shortened)
    node = await brokers.node({ extraConfig: ['consumer_timeout = 5000'], advancedConfig: FAST_CHANNEL_TICK });
    admin = await amqp.connect(node.url);
    admin.on('error', () => {});
  });
  after(async () => {
    procs.forEach((p) => p.kill('SIGKILL'));
    // bounded: a connection to a node already stopped may never answer its close
    await Promise.race([admin?.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 3000))]);
  });

  const channel = async <T>(fn: (ch: amqp.ConfirmChannel) => Promise<T>): Promise<T> => {
    const ch = await admin.createConfirmChannel();
    ch.on('error', () => {});
    try {
      return await fn(ch);
    } finally {
      await ch.close().catch(() => {});
    }
  };
  const send = (q: string, body: unknown, messageId: string): Promise<void> =>
    channel(async (ch) => {
      ch.publish('', q, Buffer.from(JSON.stringify(body)), { persistent: true, messageId });
      await ch.waitForConfirms();
    });
  const depth = (q: string): Promise<number> => channel(async (ch) => (await ch.checkQueue(q)).messageCount);
  const worker = (q: string, args: string[] = [], env: Record<string, string> = {}): Proc => track(runWorker(WORKER, args, { QUEUE: q, AMQP_URL: node.url, ...env }));
  const until = async (check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, p?: Proc): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${p ? `\n${p.stdout.slice(-4000)}` : ''}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  it('8.5: consumer_timeout closes the channel, not the worker: it repairs the channel, keeps consuming, and the dead letter says what happened', async () => {
    const q = uniqueQueue('ctimeout');
    const w = worker(q, ['--max-attempts', '2', '--consumer-timeout', '5'], { STOP_TIMEOUT: '2' });
    await consuming(w);
    await send(q, { do: 'sleep', ms: 7000 }, 'slow');
    // the 80 % warning reads the setting, not an environment variable
    const warning = await w.waitFor((l) => /near RabbitMQ's consumer_timeout \(consumerTimeout 5s\)/.test(String(l.msg)), 20_000, 'the 80 % warning');
    assert.equal(warning.messageId, 'slow');
    await w.waitFor((l) => /channel closed under the consumer/.test(String(l.msg)), 30_000, 'the channel closed by the broker');
    const [letter] = await (async () => {
      let got: amqp.GetMessage | false = false;
      await until(async () => (got = await channel((ch) => ch.get(`${q}.dlq`, { noAck: true }))) !== false, 60_000, 'the dead letter', w);
      return [got as unknown as amqp.GetMessage];
    })();
    assert.match(String(letter?.properties.headers?.['x-rabbit-worker-reason']), /its callback completed, but the channel closed before the ack reached the broker \(consumer_timeout/);
    assert.deepEqual(callbacks(w.lines, 'slow'), [1, 2]);
    // still a worker: the next message is handled
    await send(q, { do: 'ack' }, 'next');
    await w.waitFor((l) => l.msg === 'handled' && l.messageId === 'next', 20_000, 'consuming after the repair');
    w.kill('SIGTERM');
    assert.equal((await w.exit()).code, 0, 'no exit 1: the connection loss after the channel close is never dropped');
  });

  it('8.1: a retry whose delay level was deleted: the levels are declared again and the message comes back', async () => {
    const q = uniqueQueue('lost-level');
    const w = worker(q, ['--retry-delay-ms', '1000']);
    await consuming(w);
    await send(q, { do: 'retry-once', ms: 1000 }, 'level-prime');
    await w.waitFor((l) => l.msg === 'handled' && l.messageId === 'level-prime', 30_000, 'a first retry (declares the levels)');
    await channel((ch) => ch.deleteQueue(delayLevelName(0)));
    await send(q, { do: 'retry-once', ms: 1000 }, 'level-lost');
    await w.waitFor((l) => l.msg === 'handled' && l.messageId === 'level-lost', 30_000, 'the retried message handled');
    assert.deepEqual(callbacks(w.lines, 'level-lost'), [1, 2]);
    assert.equal(await depth(delayLevelName(0)), 0, 'level 0 exists again');
    w.kill('SIGTERM');
    assert.equal((await w.exit()).code, 0);
  });

  it('8.3: under a memory alarm, publish rejects BROKER_BLOCKED at its deadline and close() is bounded', async () => {
    const q = uniqueQueue('alarm-pub');
    await channel((ch) => ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } }));
    const publisher = new Publisher({ url: node.url, publishTimeoutMs: 3000 });
    await publisher.publish(q, { n: 0 });
    await setMemoryAlarm(node, true);
    try {
      const started = Date.now();
      await assert.rejects(publisher.publish(q, { n: 1 }), (e: { code?: string }) => e.code === ErrorCode.BROKER_BLOCKED);
      const rejectedMs = Date.now() - started;
      assert.ok(rejectedMs < 8000, `rejected after ${rejectedMs} ms`);
      const closing = Date.now();
      await publisher.close();
      assert.ok(Date.now() - closing < 8000, `close() took ${Date.now() - closing} ms`);
      console.log(`# blocked publish rejected after ${rejectedMs} ms; close() in ${Date.now() - closing} ms`);
    } finally {
      await setMemoryAlarm(node, false);
    }
  });

  it('8.3: under a memory alarm, a stopping worker exits within stopTimeout + a bounded grace; its unsettled messages come back', async () => {
    const q = uniqueQueue('alarm-stop');
    const w = worker(q, ['--retry-delay-ms', '2000', '--max-attempts', '5', '--prefetch', '2'], { STOP_TIMEOUT: '2' });
    await consuming(w);
    // published before the alarm (a publishing connection blocks); they fail during it: their retries need
    // copies, which block, so their originals stay unacked
    for (const id of ['t1', 't2']) await send(q, { do: 'throw-after', ms: 3000 }, id);
    await until(() => w.lines.filter((l) => l.msg === 'callback').length >= 2, 20_000, 'both callbacks started', w);
    await setMemoryAlarm(node, true);
    try {
      await until(() => w.lines.filter((l) => /callback failed/.test(String(l.msg))).length >= 2, 20_000, 'both callbacks failed', w);
      const started = Date.now();
      w.kill('SIGTERM');
      w.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      w.kill('SIGTERM');
      const { code } = await w.exit(30_000);
      const stopMs = Date.now() - started;
      assert.equal(code, 0);
      assert.ok(stopMs < 2000 + 12_000, `stopped in ${stopMs} ms`);
      console.log(`# worker stopped under an alarm in ${stopMs} ms (stopTimeout 2 s)`);
    } finally {
      await setMemoryAlarm(node, false);
    }
    await until(async () => (await depth(q)) + (await depth(`${q}.dlq`)) === 2, 30_000, 'both messages back with the broker');
  });

  it('8.3: the consumer keeps acking under an alarm (its connection never publishes), and stops cleanly', async () => {
    const q = uniqueQueue('alarm-ack');
    await channel((ch) => ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${q}.dlq` } }));
    for (let i = 0; i < 5; i++) await send(q, { do: 'sleep', ms: 400 }, `m${i}`);
    const w = worker(q);
    await w.waitFor((l) => l.msg === 'callback' && l.messageId === 'm0', 30_000, 'the first callback');
    await setMemoryAlarm(node, true);
    try {
      await until(() => w.lines.filter((l) => l.msg === 'handled').length === 5, 30_000, 'all five handled during the alarm', w);
      w.kill('SIGTERM');
      assert.equal((await w.exit(30_000)).code, 0);
      // had the acks been stuck behind the alarm, the messages would be back in the queue now
      assert.equal(await depth(q), 0);
    } finally {
      await setMemoryAlarm(node, false);
    }
  });
});
