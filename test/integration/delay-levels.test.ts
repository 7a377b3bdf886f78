/**
 * The bounded delay topology (issue 9.3), on the system node: 1,000 messages with 1,000 distinct delays
 * leave the broker's queues as they were (the 28 shared levels, the test's own two), each arrives no
 * earlier than asked and within the stated precision; a worker's retry goes through the levels too; and
 * `rabbit-worker dlq list` counts what waits in them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import { Publisher } from '../../src/index.js';
import { DELAY_PREFIX, delayLevelName, delayLevelNames } from '../../src/broker/delay-topology.js';
import { connection, declareQueue, eventually, withChannel } from '../helpers/broker.js';
import { cli, consuming, fixture, runWorker } from '../helpers/process.js';
import { rabbitmqctl } from '../helpers/rabbitmqctl.js';
import { testScope } from '../helpers/scope.js';

/**
 * Past the whole second a delay is rounded up to, how late a message may be. What it is made of: one
 * dead-letter hop per bit set (a few ms each), the quorum queues' expiry of a message at their head, and
 * the consumer's turn; measured here at about 0.1-0.3 s on two cores with other tests running. 2 s leaves
 * room for a loaded CI box (load 10 seen on this machine) without hiding a message that waited a whole
 * extra level (the next level up is 2 s or more).
 */
const MARGIN_MS = 2000;

/** The queues of the broker that are ours to watch: the delay levels, and those named after `prefix`. */
function watchedQueues(prefix: string): string[] {
  return rabbitmqctl(['list_queues', '--no-table-headers', 'name'])
    .split('\n')
    .map((l) => l.trim())
    .filter((name) => name.startsWith(`${DELAY_PREFIX}.`) || name.startsWith(prefix))
    .sort();
}

describe('delay levels: any delay, a fixed set of queues', { timeout: 240_000 }, () => {
  const { queue, track } = testScope();

  it('1,000 distinct delays (10 ms to 10 s, and 21 s): no new queue; each arrives no earlier than asked, within 1 s + margin', async (t) => {
    const q = queue('delays');
    await declareQueue(q);
    const publisher = new Publisher();
    const arrivals = new Map<string, number>();
    const channel = await (await connection()).createChannel();
    await channel.prefetch(500);
    await channel.consume(q, (message: ConsumeMessage | null) => {
      if (message === null) return;
      arrivals.set(String(message.properties.messageId), Date.now());
      channel.ack(message);
    });
    try {
      // one delayed message first: the levels exist (shared, declared once per broker) before counting
      await publisher.publish(q, {}, { delayMs: 1, messageId: 'warm-up' });
      const before = watchedQueues(q);
      assert.deepEqual(before, [...delayLevelNames(), q, `${q}.dlq`].sort(), 'the 28 levels and the work queue with its .dlq');

      const delays = [...Array.from({ length: 1000 }, (_, i) => (i + 1) * 10), 21_000];
      const sentAt = new Map<string, { at: number; delayMs: number }>();
      for (let i = 0; i < delays.length; i += 100) {
        await Promise.all(
          delays.slice(i, i + 100).map((delayMs) => {
            const id = `d-${delayMs}`;
            sentAt.set(id, { at: Date.now(), delayMs });
            return publisher.publish(q, { delayMs }, { delayMs, messageId: id });
          }),
        );
      }
      const published = Date.now();
      assert.deepEqual(watchedQueues(q), before, 'all published: the queues are the same');
      await eventually(() => [...sentAt.keys()].every((id) => arrivals.has(id)), 60_000, `every delayed message delivered (${arrivals.size - 1} of ${sentAt.size})`);
      assert.deepEqual(watchedQueues(q), before, 'all delivered: the queues are still the same');

      let early = 0;
      let worstLateMs = 0;
      for (const [id, { at, delayMs }] of sentAt) {
        const waited = (arrivals.get(id) as number) - at;
        if (waited < delayMs) early++;
        worstLateMs = Math.max(worstLateMs, waited - Math.ceil(delayMs / 1000) * 1000);
      }
      const line = `${sentAt.size} delays published in ${((published - (sentAt.get('d-10')?.at ?? published)) / 1000).toFixed(1)} s; none early: ${early === 0}; latest past its whole second: ${worstLateMs} ms (margin ${MARGIN_MS} ms); queues before and after: ${before.length}`;
      t.diagnostic(line);
      console.log(`# delay levels: ${line}`);
      assert.equal(early, 0, 'no message before its delay');
      assert.ok(worstLateMs <= MARGIN_MS, `a message arrived ${worstLateMs} ms after its delay rounded up to the second`);
    } finally {
      await publisher.close();
      await channel.close().catch(() => {});
    }
  });

  it("a worker's retry waits in the levels: no queue of its own, back after the delay", async () => {
    const q = queue('retry-level');
    const worker = track(runWorker(fixture('behave-worker.ts'), [], { QUEUE: q }));
    await consuming(worker);
    const before = watchedQueues(q);
    const publisher = new Publisher();
    try {
      await publisher.publish(q, { do: 'retry-once', ms: 1500 }, { messageId: 'retried' });
    } finally {
      await publisher.close();
    }
    const first = await worker.waitFor((l) => l.msg === 'callback' && l.messageId === 'retried' && l.attempt === 1, 20_000, 'the first attempt');
    // 1.5 s is rounded up to 2 s: bit 1, so the message waits in level 01
    const inLevel1 = async (): Promise<boolean> => (await withChannel((ch) => ch.checkQueue(delayLevelName(1)))).messageCount > 0;
    await eventually(async () => (await inLevel1()) || worker.lines.some((l) => l.messageId === 'retried' && l.attempt === 2), 10_000, 'the retry in level 01 (or already back)');
    const second = await worker.waitFor((l) => l.msg === 'callback' && l.messageId === 'retried' && l.attempt === 2, 20_000, 'the second attempt');
    assert.ok(Number(second.time) - Number(first.time) >= 1500, 'not before its delay');
    assert.deepEqual(watchedQueues(q), before, 'no retry queue was declared');
    assert.equal(watchedQueues(q).some((name) => name.includes('.retry.')), false);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('dlq list says how many messages wait in the delay levels, for every queue', async () => {
    const q = queue('census');
    await declareQueue(q);
    const publisher = new Publisher();
    try {
      await publisher.publish(q, {}, { delayMs: 60_000, messageId: 'in-a-minute' });
    } finally {
      await publisher.close();
    }
    const list = cli(['dlq', 'list', q]);
    assert.equal((await list.exit()).code, 0, list.stderr);
    const counted = /^(\d[\d,]*) message\(s\) wait in the delay levels \(retries and delayed publishes of every queue of the vhost\)$/m.exec(list.stdout);
    assert.ok(counted !== null, list.stdout);
    assert.ok(Number((counted[1] as string).replace(/,/g, '')) >= 1, 'the message delayed a minute is counted');
    // it stays in the shared levels for its minute, then expires into the deleted queue and is dropped
  });
});
