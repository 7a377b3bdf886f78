import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import { cleanReplayHeaders, listDeadLetters, purgeDeadLetters, replayDeadLetters } from '../../src/broker/dead-letters.js';
import { assess } from '../../src/worker/attempt-policy.js';
import { closeConnection, connection, declareQueue, deleteQueues, depth, eventually, uniqueQueue, withChannel } from '../helpers/broker.js';
import { spawnSync } from 'node:child_process';
import { BIN, cli } from '../helpers/process.js';

/** Failure headers as the worker writes them, plus what the broker adds on a quorum queue. */
const failure = (i: number): Record<string, unknown> => ({
  'x-rabbit-worker-reason': `failed 5 times (maxAttempts 5); last error: boom ${i}`,
  'x-rabbit-worker-error': `Error: boom ${i}`,
  'x-rabbit-worker-stack': 'Error: boom\n    at callback',
  'x-rabbit-worker-queue': 'q',
  'x-rabbit-worker-worker': 'w',
  'x-rabbit-worker-attempts': 5,
  'x-rabbit-worker-failed-at': '2024-05-01T10:00:00.000Z',
  'x-delivery-count': 4,
  tenant: 't1',
});

/** Puts `count` dead letters `m0…` into `<queue>.dlq`, pipelined, confirmed. */
async function seedDeadLetters(queue: string, count: number, body = (i: number): Buffer => Buffer.from(JSON.stringify({ n: i }))): Promise<void> {
  await withChannel(async (ch) => {
    for (let i = 0; i < count; i++) {
      ch.publish('', `${queue}.dlq`, body(i), { persistent: true, messageId: `m${i}`, contentType: 'application/json', headers: failure(i) });
    }
    await ch.waitForConfirms();
  });
}

/**
 * Every message of a queue, in order, acked. A consumer, not basic.get: a get on a quorum queue costs a
 * Raft round each (tens of ms), which 2,000 messages cannot afford.
 */
async function takeAll(queue: string, timeoutMs = 30_000): Promise<ConsumeMessage[]> {
  const expected = await depth(queue);
  const ch = await (await connection()).createChannel();
  const out: ConsumeMessage[] = [];
  try {
    await ch.prefetch(500);
    await new Promise<void>((resolve, reject) => {
      if (expected === 0) return resolve();
      const timer = setTimeout(() => reject(new Error(`took ${out.length} of ${expected} from ${queue}`)), timeoutMs);
      void ch.consume(queue, (m) => {
        if (m === null) return;
        out.push(m);
        ch.ack(m);
        if (out.length === expected) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    await ch.close().catch(() => {});
  }
  return out;
}

const ids = (messages: ConsumeMessage[]): string[] => messages.map((m) => String(m.properties.messageId));
const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `m${from + i}`);

describe('rabbit-worker dlq', () => {
  const queues: string[] = [];
  const fresh = async (prefix: string, type: 'quorum' | 'classic' = 'quorum'): Promise<string> => {
    const queue = uniqueQueue(prefix);
    queues.push(queue);
    await declareQueue(queue, type);
    return queue;
  };
  after(async () => {
    await deleteQueues(...queues);
    await closeConnection();
  });

  it('list shows id, attempts, failed-at and reason, and leaves every message in place', async () => {
    const queue = await fresh('dlq-list');
    await seedDeadLetters(queue, 40, (i) => (i === 1 ? Buffer.from([0, 159, 146, 150]) : Buffer.from(JSON.stringify({ n: i }))));
    const text = cli(['dlq', 'list', queue, '--limit', '3']);
    assert.equal((await text.exit()).code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.equal(lines.length, 5);
    assert.match(lines[0] ?? '', /^m0 {2}attempts=5 {2}failed-at=2024-05-01T10:00:00.000Z {2}failed 5 times \(maxAttempts 5\); last error: boom 0 {2}\{"n":0\}$/);
    assert.match(lines[1] ?? '', /^m1 .*\(4 bytes, binary\)$/);
    assert.match(lines[3] ?? '', new RegExp(`^3 of 40 dead letter\\(s\\) in "${queue}.dlq", left in place$`));
    assert.match(lines[4] ?? '', /^\d[\d,]* message\(s\) wait in the delay levels \(retries and delayed publishes of every queue of the vhost\)$/);

    const json = cli(['dlq', 'list', queue, '--json']);
    assert.equal((await json.exit()).code, 0, json.stderr);
    const listed = JSON.parse(json.stdout) as Array<{ messageId: string; reason: string; body: string; bodyEncoding: string; headers: Record<string, unknown> }>;
    assert.deepEqual(listed.map((m) => m.messageId), range(0, 40));
    assert.equal(listed[0]?.headers['x-rabbit-worker-error'], 'Error: boom 0');
    assert.deepEqual([listed[0]?.body, listed[0]?.bodyEncoding], ['{"n":0}', 'utf8']);
    assert.deepEqual([listed[1]?.body, listed[1]?.bodyEncoding], [Buffer.from([0, 159, 146, 150]).toString('base64'), 'base64']);

    const lib = await listDeadLetters(await connection(), queue, { limit: 5 });
    assert.deepEqual(lib.messages.map((m) => [m.messageId, m.attempts, m.reason?.slice(0, 14)]).slice(0, 1), [['m0', 5, 'failed 5 times']]);
    assert.equal(lib.depth, 40);
    // three lists later, all 40 are still there. (Not necessarily in order: RabbitMQ 3.10's quorum queues
    // do not always put returned messages back at the head; classic queues do, see the next test.)
    assert.deepEqual(ids(await takeAll(`${queue}.dlq`)).sort(), range(0, 40).sort());
  });

  it('list --json piped into another program is whole, past 64 KiB (the CLI waits for its output before exiting)', async () => {
    const queue = await fresh('dlq-pipe');
    await seedDeadLetters(queue, 200, (i) => Buffer.from(JSON.stringify({ n: i, pad: 'p'.repeat(1000) })));
    const piped = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" dlq list ${queue} --json --limit 200 | cat`], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    assert.equal(piped.status, 0, piped.stderr);
    assert.ok(piped.stdout.length > 200_000, `${piped.stdout.length} characters`);
    assert.equal((JSON.parse(piped.stdout) as unknown[]).length, 200);
  });

  it('list keeps the order of a classic dead-letter queue too', async () => {
    const queue = await fresh('dlq-classic', 'classic');
    await seedDeadLetters(queue, 50);
    assert.equal((await listDeadLetters(await connection(), queue, { limit: 3 })).messages.length, 3);
    assert.equal((await listDeadLetters(await connection(), queue, { limit: 45 })).messages.length, 45);
    assert.deepEqual(ids(await takeAll(`${queue}.dlq`)), range(0, 50));
  });

  it('replay moves 2,000 messages back, in order, with failure headers removed and attempts reset: nothing lost', async () => {
    const queue = await fresh('dlq-replay');
    await seedDeadLetters(queue, 2000);
    const run = cli(['dlq', 'replay', queue]);
    assert.equal((await run.exit(60_000)).code, 0, run.stderr);
    const summary = run.stdout.trim();
    assert.match(summary, new RegExp(`^replayed 2,000 message\\(s\\) to "${queue}" in [\\d.]+ s \\([\\d,]+/s\\); 0 left in "${queue}.dlq"$`));
    // not a terminal: progress lines, one per second at most, on stderr
    assert.ok(run.stderr.split('\n').filter(Boolean).every((l) => /^replayed [\d,]+ \/ 2,000 \([\d,]+\/s\)$/.test(l)), run.stderr);
    process.stdout.write(`# ${summary}\n`);

    // a quorum queue applies acks asynchronously: its depth reaches 0 a moment later
    await eventually(async () => (await depth(`${queue}.dlq`)) === 0, 10_000, 'an empty dead-letter queue');
    const back = await takeAll(queue);
    assert.deepEqual(ids(back), range(0, 2000));
    const first = back[0];
    assert.ok(first);
    assert.deepEqual(first.properties.headers, { tenant: 't1' });
    assert.equal(first.properties.contentType, 'application/json');
    assert.equal(first.properties.deliveryMode, 2);
    assert.deepEqual(JSON.parse(String(first.content)), { n: 0 });
    assert.equal(assess(first, 'quorum').attempt, 1, 'a fresh maxAttempts');
  });

  it('replay --id takes only those messages; the others stay in the dead-letter queue, in order', async () => {
    const queue = await fresh('dlq-ids', 'classic');
    await seedDeadLetters(queue, 60);
    const run = cli(['dlq', 'replay', queue, '--id', 'm3', 'm41', 'nope']);
    assert.equal((await run.exit()).code, 1, 'an id that is not there is reported');
    assert.match(run.stdout, /^replayed 2 message\(s\) .*; 58 left in/);
    assert.match(run.stderr, /not found in ".*\.dlq": nope\n$/);
    assert.deepEqual(ids(await takeAll(queue)), ['m3', 'm41']);
    assert.deepEqual(ids(await takeAll(`${queue}.dlq`)), range(0, 60).filter((id) => id !== 'm3' && id !== 'm41'));
  });

  it('replay --limit (library): the first n go back, the rest stay in order; progress is reported', async () => {
    const queue = await fresh('dlq-limit', 'classic');
    await seedDeadLetters(queue, 30);
    const seen: number[] = [];
    const result = await replayDeadLetters(await connection(), queue, { limit: 7, window: 4, onProgress: (p) => seen.push(p.replayed) });
    assert.deepEqual([result.replayed, result.remaining, result.missingIds], [7, 23, []]);
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(ids(await takeAll(queue)), range(0, 7));
    assert.deepEqual(ids(await takeAll(`${queue}.dlq`)), range(7, 30));
  });

  it('purge counts what it removed, and needs --yes without a terminal', async () => {
    const queue = await fresh('dlq-purge');
    await seedDeadLetters(queue, 5);
    const refused = cli(['dlq', 'purge', queue]);
    assert.equal((await refused.exit()).code, 2);
    assert.match(refused.stderr, /^rabbit-worker: dlq purge deletes messages for good: pass --yes/);
    assert.equal(await depth(`${queue}.dlq`), 5);
    const run = cli(['dlq', 'purge', queue, '--yes']);
    assert.equal((await run.exit()).code, 0, run.stderr);
    assert.equal(run.stdout, `purged 5 message(s) from "${queue}.dlq"\n`);
    await eventually(async () => (await depth(`${queue}.dlq`)) === 0, 10_000, 'an empty dead-letter queue');
    assert.equal(await purgeDeadLetters(await connection(), queue), 0);
  });

  it('a missing dead-letter queue is one line and exit 2; no broker is exit 3', async () => {
    const queue = uniqueQueue('dlq-none');
    for (const args of [['list', queue], ['replay', queue], ['purge', queue, '--yes']]) {
      const run = cli(['dlq', ...args]);
      assert.equal((await run.exit()).code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.equal(run.stderr, `rabbit-worker: no dead-letter queue "${queue}.dlq"\n`);
    }
    await assert.rejects(listDeadLetters(await connection(), queue), /no dead-letter queue/);
    const away = cli(['dlq', 'list', 'q', '--url', 'amqp://u:secret@127.0.0.1:1', '--connect-attempts', '1']);
    assert.equal((await away.exit()).code, 3);
    assert.ok(!away.stderr.includes('secret'));
  });

  it('cleanReplayHeaders drops failure bookkeeping and keeps the rest', () => {
    assert.deepEqual(cleanReplayHeaders({ ...failure(1), 'x-death': [], 'x-first-death-reason': 'rejected', trace: 'abc' }), { tenant: 't1', trace: 'abc' });
  });
});
