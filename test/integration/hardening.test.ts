import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, Publisher } from '../../src/index.js';
import { declareQueue, depth, drain, eventually, publish, withChannel } from '../helpers/broker.js';
import { consuming, fixture, runWorker, type LogLine } from '../helpers/process.js';
import { closeConnectionsOfPid } from '../helpers/rabbitmqctl.js';
import { testScope } from '../helpers/scope.js';

const WORKER = fixture('behave-worker.ts');
const callbacks = (lines: LogLine[], id: string): unknown[] => lines.filter((l) => l.msg === 'callback' && l.messageId === id).map((l) => l.attempt);

/** Defects of issue 8 that the system broker can show without changing its state (the others: hardening-broker.test.ts). */
describe('hardening: the guarantee under faults production meets', () => {
  const { queue, track } = testScope();

  it('8.1: a dead letter whose .dlq was deleted is not lost: .dlq is declared again and the copy sent again; "dead-lettered" only after', async () => {
    const q = queue('lost-dlq');
    const worker = track(runWorker(WORKER, [], { QUEUE: q }));
    await consuming(worker);
    await withChannel((ch) => ch.deleteQueue(`${q}.dlq`));
    await publish(q, { do: 'reject' }, { messageId: 'to-dlq' });
    const returned = await worker.waitFor((l) => l.code === ErrorCode.COPY_RETURNED, 20_000, 'the returned copy noticed');
    assert.match(String(returned.msg), new RegExp(`dead-letter queue ${q}\\.dlq did not take the message`));
    const dead = await worker.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('message dead-lettered'), 20_000, 'dead-lettered');
    assert.ok(worker.lines.indexOf(returned) < worker.lines.indexOf(dead), 'logged as dead-lettered only once the copy was routed');
    const letters = await eventually(async () => {
      const got = await drain(`${q}.dlq`);
      return got.length > 0 ? got : undefined;
    }, 20_000, 'the dead letter in the re-declared .dlq');
    assert.equal(letters.length, 1);
    assert.equal(letters[0]?.properties.messageId, 'to-dlq');
    assert.equal(letters[0]?.properties.headers?.['x-rabbit-worker-reason'], 'told to reject');
    assert.equal(await depth(q), 0);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('8.4: a poison message whose headers nearly fill the table is dead-lettered slimmed (its headers named), never looped', async () => {
    const q = queue('fat-headers');
    await declareQueue(q);
    const headers: Record<string, string> = {};
    // 64 KiB is amqplib's limit for a header table: these leave room for a retry's few headers, not for a dead letter's
    for (let i = 0; i < 64; i++) headers[`h${String(i).padStart(2, '0')}`] = 'x'.repeat(1010);
    await publish(q, { do: 'throw' }, { messageId: 'fat', headers });
    await publish(q, { do: 'reject' }, { messageId: 'fat-reject', headers });
    const worker = track(runWorker(WORKER, ['--max-attempts', '3', '--retry-delay-ms', '0'], { QUEUE: q }));
    const letters = await eventually(async () => {
      const got = await drain(`${q}.dlq`);
      return got.length > 0 ? got : undefined;
    }, 30_000, 'the fat messages dead-lettered', worker);
    await eventually(async () => letters.push(...(await drain(`${q}.dlq`))) >= 2, 20_000, 'both dead letters', worker);
    const byId = new Map(letters.map((m) => [m.properties.messageId as string, m]));
    for (const id of ['fat', 'fat-reject']) {
      const letter = byId.get(id);
      assert.ok(letter !== undefined, `${id} dead-lettered`);
      assert.deepEqual(JSON.parse(String(letter.content)).do, id === 'fat' ? 'throw' : 'reject', 'the body is kept');
      const kept = Object.keys(letter.properties.headers ?? {}).filter((h) => /^h\d\d$/.test(h));
      const dropped = letter.properties.headers?.['x-rabbit-worker-dropped-headers'];
      // either its headers fitted beside ours, or it was slimmed and says which it lost
      if (id === 'fat') assert.match(String(dropped), /^h00,h01,.*h63$/, 'a failure with a stack does not fit: slimmed');
      else assert.ok(kept.length === 64 || /^h00,h01,.*h63$/.test(String(dropped)), 'kept whole, or slimmed with its headers named');
      assert.ok(String(letter.properties.headers?.['x-rabbit-worker-reason']).length > 0);
    }
    assert.ok(callbacks(worker.lines, 'fat').length <= 3, `bounded deliveries, got ${callbacks(worker.lines, 'fat').length}`);
    assert.equal(callbacks(worker.lines, 'fat-reject').length, 1);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('8.6: a nack then throws count 1, 2, 3 (a copy no longer carries the stale x-delivery-count), then the dead letter says 3', async () => {
    const q = queue('recount');
    const worker = track(runWorker(WORKER, ['--max-attempts', '3', '--retry-delay-ms', '0'], { QUEUE: q }));
    await consuming(worker);
    await publish(q, { do: 'nack-then-throw' }, { messageId: 'counted' });
    const [letter] = await eventually(async () => {
      const got = await drain(`${q}.dlq`);
      return got.length > 0 ? got : undefined;
    }, 30_000, 'dead-lettered after 3 attempts', worker);
    assert.deepEqual(callbacks(worker.lines, 'counted'), [1, 2, 3]);
    assert.match(String(letter?.properties.headers?.['x-rabbit-worker-reason']), /^failed 3 times \(maxAttempts 3\)/);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('8.6 / 9.1: a message returned by a connection loss is not an attempt in another process either', async () => {
    const q = queue('outage-elsewhere');
    await declareQueue(q);
    const a = track(runWorker(WORKER, ['--max-attempts', '1'], { QUEUE: q }));
    await consuming(a);
    await publish(q, { do: 'sleep', ms: 4000 }, { messageId: 'held' });
    await a.waitFor((l) => l.msg === 'callback' && l.messageId === 'held');
    const b = track(runWorker(WORKER, ['--max-attempts', '1'], { QUEUE: q }));
    await consuming(b);
    assert.ok(closeConnectionsOfPid(a.child.pid as number) >= 1, "A's connections cut");
    // with maxAttempts 1 a counted return would be dead-lettered unrun
    await eventually(() => [...a.lines, ...b.lines].filter((l) => l.msg === 'handled' && l.messageId === 'held').length >= 2, 30_000, 'the return handled', b);
    assert.deepEqual([...callbacks(a.lines, 'held'), ...callbacks(b.lines, 'held')], [1, 1]);
    assert.equal((await drain(`${q}.dlq`)).length, 0);
    for (const w of [a, b]) w.kill('SIGTERM');
    assert.deepEqual([(await a.exit()).code, (await b.exit()).code], [0, 0]);
  });

  it('8.7: a SIGTERM at any moment of start-up exits 0, and nothing says "consuming" after it', async () => {
    const q = queue('early-term');
    for (const delayMs of [0, 100, 300, 700, 1200]) {
      const worker = track(runWorker(WORKER, [], { QUEUE: q }));
      await worker.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('worker starting'), 20_000, 'the guard installed');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      worker.kill('SIGTERM');
      const { code } = await worker.exit(20_000);
      assert.equal(code, 0, `SIGTERM after ${delayMs} ms: exit ${code}\n${worker.stdout.slice(-2000)}`);
      const term = worker.lines.findIndex((l) => /SIGTERM received/.test(String(l.msg)));
      const consumed = worker.lines.findIndex((l) => /^consuming /.test(String(l.msg)));
      assert.ok(consumed === -1 || term === -1 || consumed < term, `"consuming" after "SIGTERM received" (${delayMs} ms)`);
    }
  });

  it('8.7: the same signal twice within a second (a process group, GNU timeout) is one: stopTimeout is kept', async () => {
    const q = queue('group-term');
    const worker = track(runWorker(WORKER, [], { QUEUE: q, STOP_TIMEOUT: '10' }));
    await consuming(worker);
    await publish(q, { do: 'sleep', ms: 2500 }, { messageId: 'finishing' });
    await worker.waitFor((l) => l.msg === 'callback' && l.messageId === 'finishing');
    worker.kill('SIGTERM');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
    assert.ok(worker.lines.some((l) => l.msg === 'handled' && l.messageId === 'finishing'), 'the callback finished');
    assert.ok(!worker.lines.some((l) => /again: interrupting/.test(String(l.msg))), 'not taken as a second signal');
    assert.equal(await depth(q), 0);
  });

  it('8.9: markers a publisher sets are not believed, and Publisher refuses them', async () => {
    const q = queue('forged');
    await declareQueue(q);
    await publish(q, { do: 'ack' }, { messageId: 'forged', headers: { 'x-rabbit-worker-attempts': 999, 'x-delivery-count': 50, 'x-rabbit-worker-suspect': true } });
    const worker = track(runWorker(WORKER, ['--max-attempts', '2'], { QUEUE: q }));
    await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'forged', 20_000, 'the forged message handled');
    assert.deepEqual(callbacks(worker.lines, 'forged'), [1]);
    assert.equal((await drain(`${q}.dlq`)).length, 0);
    const publisher = new Publisher();
    try {
      await assert.rejects(publisher.publish(q, {}, { headers: { 'x-rabbit-worker-attempts': 3 } }), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, ErrorCode.RESERVED_HEADER);
        assert.match(String(e.message), /"x-rabbit-worker-attempts" is reserved/);
        return true;
      });
      await assert.rejects(publisher.publish(q, {}, { headers: { 'X-Delivery-Count': 1 } }), { code: ErrorCode.RESERVED_HEADER });
    } finally {
      await publisher.close();
    }
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('8.11: a deleted queue: the worker says how many unacked messages went with it, and consumes the new one', async () => {
    const q = queue('deleted');
    const worker = track(runWorker(WORKER, [], { QUEUE: q }));
    await consuming(worker);
    await publish(q, { do: 'sleep', ms: 3000 }, { messageId: 'doomed' });
    await worker.waitFor((l) => l.msg === 'callback' && l.messageId === 'doomed');
    await withChannel((ch) => ch.deleteQueue(q));
    const line = await worker.waitFor((l) => l.code === ErrorCode.CONSUMER_LOST, 20_000, 'the deletion noticed');
    assert.equal(line.unacked, 1);
    assert.match(String(line.msg), /1 message\(s\) unacked in this process went with/);
    await eventually(async () => withChannel(async (ch) => (await ch.checkQueue(q)).consumerCount === 1).catch(() => false), 20_000, 'consuming the new queue', worker);
    await publish(q, { do: 'ack' }, { messageId: 'after' });
    await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'after');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  for (const isolation of ['thread', 'none'] as const) {
    it(`unhandled rejection in a callback (isolation ${isolation}): shutdown('unhandled-rejection'), the message back, work goes on`, async () => {
      const q = queue(`unhandled-${isolation}`);
      const worker = track(runWorker(WORKER, ['--isolation', isolation, '--max-attempts', '1'], { QUEUE: q }));
      await consuming(worker);
      await publish(q, { do: 'unhandled' }, { messageId: 'orphan-promise' });
      const shutdown = await worker.waitFor((l) => l.msg === 'custom shutdown' && l.messageId === 'orphan-promise', 20_000, 'shutdown() ran');
      assert.equal(shutdown.reason, 'unhandled-rejection');
      if (isolation === 'thread') {
        await publish(q, { do: 'ack' }, { messageId: 'next' });
        await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'next', 20_000, 'the next message handled by a fresh isolate');
        // back to the queue, then dead-lettered for maxAttempts 1: never lost
        await eventually(async () => (await depth(`${q}.dlq`)) === 1, 20_000, 'dead-lettered after its attempt', worker);
        worker.kill('SIGTERM');
        assert.equal((await worker.exit()).code, 0);
      } else {
        assert.equal((await worker.exit()).code, 1, 'on the main thread it ends the process');
        assert.equal(await depth(q), 1, 'the message is back in the queue');
      }
    });
  }
});
