import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deleteQueues, depth, drain, eventually, publish, uniqueQueue } from '../helpers/broker.js';
import { consuming, fixture, runWorker, type Proc } from '../helpers/process.js';
import { testScope } from '../helpers/scope.js';

const WORKER = fixture('behave-worker.ts');

describe('the ShutdownHelper guard', () => {
  const { queues, track } = testScope();

  async function start(args: string[] = [], env: Record<string, string> = {}): Promise<{ queue: string; worker: Proc }> {
    const queue = uniqueQueue('guard');
    queues.push(queue);
    const worker = track(runWorker(WORKER, args, { QUEUE: queue, ...env }));
    await consuming(worker);
    return { queue, worker };
  }

  const shutdowns = (w: Proc, id: string): unknown[] => w.lines.filter((l) => l.msg === 'custom shutdown' && l.messageId === id).map((l) => l.reason);

  it('heap exhaustion at prefetch 1: shutdown() runs, CRITICAL, redelivered until maxAttempts then dead-lettered; other messages handled', async () => {
    const { queue, worker } = await start(['--max-attempts', '2', '--memory-limit-mb', '48']);
    await publish(queue, { do: 'ack' }, { messageId: 'before' });
    await publish(queue, { do: 'oom' }, { messageId: 'hog' });
    for (let i = 0; i < 5; i++) await publish(queue, { do: 'ack' }, { messageId: `after-${i}` });
    const dead = await eventually(async () => {
      const m = await drain(`${queue}.dlq`);
      return m.length > 0 ? m : undefined;
    }, 60_000, 'the hog in the dlq');
    assert.equal(dead[0]?.properties.messageId, 'hog');
    assert.match(String(dead[0]?.properties.headers?.['x-rabbit-worker-reason']), /more than maxAttempts \(2\)/);
    await eventually(() => worker.lines.filter((l) => l.msg === 'handled' && String(l.messageId).startsWith('after-')).length === 5, 30_000, 'the other messages');
    assert.deepEqual(shutdowns(worker, 'hog'), ['out-of-memory', 'out-of-memory']);
    assert.ok(worker.lines.some((l) => l.level === 'critical' && l.reason === 'out-of-memory'), 'CRITICAL logged');
    assert.ok(worker.lines.some((l) => l.msg === 'handled' && l.messageId === 'before'));
    assert.equal(worker.child.exitCode, null, 'the process lived on');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
    assert.equal(await depth(queue), 0);
  });

  it('heap exhaustion at prefetch 10: the messages beside the hog run again alone and are handled; only the hog is dead-lettered', async () => {
    const { queue, worker } = await start(['--max-attempts', '2', '--memory-limit-mb', '48', '--prefetch', '10']);
    const ids = Array.from({ length: 9 }, (_, i) => `bystander-${i}`);
    await publish(queue, { do: 'sleep', ms: 300 }, { messageId: ids[0] });
    await publish(queue, { do: 'oom' }, { messageId: 'hog' });
    for (const id of ids.slice(1)) await publish(queue, { do: 'sleep', ms: 300 }, { messageId: id });
    const dead = await eventually(async () => {
      const m = await drain(`${queue}.dlq`);
      return m.length > 0 ? m : undefined;
    }, 60_000, 'the hog in the dlq', worker);
    assert.deepEqual(dead.map((m) => m.properties.messageId), ['hog']);
    await eventually(() => ids.every((id) => worker.lines.some((l) => l.msg === 'handled' && l.messageId === id)), 30_000, 'every bystander handled', worker);
    assert.equal((await drain(`${queue}.dlq`)).length, 0, 'no bystander dead-lettered');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('threads 2: heap exhaustion in one isolate leaves the other running; only the hog is retried and dead-lettered', async () => {
    const { queue, worker } = await start(['--threads', '2', '--prefetch', '4', '--max-attempts', '2', '--memory-limit-mb', '48']);
    // 'long' takes one isolate for 4 s; the hog then goes to the other (the least busy) and exhausts its heap, twice
    await publish(queue, { do: 'sleep', ms: 4000 }, { messageId: 'long' });
    await worker.waitFor((l) => l.msg === 'callback' && l.messageId === 'long', 20_000, "'long' running");
    await publish(queue, { do: 'oom' }, { messageId: 'hog' });
    for (let i = 0; i < 4; i++) await publish(queue, { do: 'ack' }, { messageId: `after-${i}` });
    const dead = await eventually(async () => {
      const m = await drain(`${queue}.dlq`);
      return m.length > 0 ? m : undefined;
    }, 60_000, 'the hog in the dlq', worker);
    assert.deepEqual(dead.map((m) => m.properties.messageId), ['hog']);
    assert.match(String(dead[0]?.properties.headers?.['x-rabbit-worker-reason']), /more than maxAttempts \(2\)/);
    // two counted deaths; a first one beside other messages (an 'after-' dispatched to the same isolate) makes
    // every message there a suspect, not counted, and the hog then dies twice in quarantine: 2 or 3 shutdown() calls
    const hog = shutdowns(worker, 'hog');
    assert.ok(hog.length >= 2 && hog.length <= 3 && hog.every((r) => r === 'out-of-memory'), `shutdown() reasons of the hog: ${JSON.stringify(hog)}`);
    await eventually(() => worker.lines.filter((l) => l.msg === 'handled' && String(l.messageId).startsWith('after-')).length >= 4, 30_000, 'the other messages', worker);
    // the other isolate kept running: 'long' ran once, on its first attempt, and was never interrupted (the
    // hog's retries run in the quarantine isolate, not in the isolate that was left)
    await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'long', 20_000, "'long' handled");
    assert.deepEqual(worker.lines.filter((l) => l.msg === 'callback' && l.messageId === 'long').map((l) => l.attempt), [1]);
    assert.equal(worker.lines.filter((l) => l.msg === 'handled' && l.messageId === 'long').length, 1);
    assert.deepEqual(shutdowns(worker, 'long'), [], 'no shutdown() for the message of the other isolate');
    assert.equal((await drain(`${queue}.dlq`)).length, 0, 'nothing else dead-lettered');
    assert.equal(worker.child.exitCode, null, 'the process lived on');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
    assert.equal(await depth(queue), 0);
  });

  it('a shutdown() heavier than its reserve fails with a CRITICAL naming spareMemoryMultiplier, and the message is not lost', async () => {
    const { queue, worker } = await start(['--spare-memory-multiplier', '1', '--max-attempts', '1'], { SHUTDOWN_ALLOC_MB: '120' });
    await publish(queue, { do: 'uncaught' }, { messageId: 'heavy' });
    await worker.waitFor((l) => l.level === 'critical' && /spareMemoryMultiplier/.test(String(l.msg)), 60_000, 'the reserve CRITICAL');
    // nacked by the framework; with maxAttempts 1 the redelivery is dead-lettered, never lost
    const dead = await eventually(async () => {
      const m = await drain(`${queue}.dlq`);
      return m.length > 0 ? m : undefined;
    }, 30_000, 'the message in the dlq', worker);
    assert.equal(dead[0]?.properties.messageId, 'heavy');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('the same shutdown() runs to the end with a larger spareMemoryMultiplier', async () => {
    const { queue, worker } = await start(['--spare-memory-multiplier', '8', '--max-attempts', '1'], { SHUTDOWN_ALLOC_MB: '120' });
    await publish(queue, { do: 'uncaught' }, { messageId: 'heavy' });
    await worker.waitFor((l) => l.msg === 'shutdown allocated' && l.mb === 120, 60_000, 'shutdown() finishing its allocation');
    assert.ok(!worker.lines.some((l) => /spareMemoryMultiplier/.test(String(l.msg))));
    await eventually(async () => (await drain(`${queue}.dlq`)).length === 1, 30_000, 'the redelivery dead-lettered');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  for (const isolation of ['thread', 'none'] as const) {
    it(`isolation ${isolation}: an uncaught exception, an unhandled rejection's kin and process.exit() run shutdown() with their reason`, async () => {
      const { queue, worker } = await start(['--isolation', isolation, '--max-attempts', '9']);
      await publish(queue, { do: 'uncaught' }, { messageId: 'boom' });
      await worker.waitFor((l) => l.msg === 'custom shutdown' && l.messageId === 'boom', 30_000, 'shutdown for the uncaught exception');
      assert.deepEqual(shutdowns(worker, 'boom').slice(0, 1), ['uncaught-exception']);
      if (isolation === 'thread') {
        await publish(queue, { do: 'exit' }, { messageId: 'quit' });
        await worker.waitFor((l) => l.msg === 'custom shutdown' && l.messageId === 'quit', 30_000, 'shutdown for process.exit');
        assert.equal(shutdowns(worker, 'quit')[0], 'exit');
        worker.kill('SIGTERM');
        const { code } = await worker.exit();
        assert.equal(code, 0);
      } else {
        // on the main thread an uncaught exception ends the process, after shutdown() and the nack
        const { code } = await worker.exit();
        assert.equal(code, 1);
      }
      // nacked, so back in the queue (or being redelivered to the live worker)
      assert.ok(worker.lines.some((l) => l.level === 'critical' && l.reason === 'uncaught-exception'));
      await deleteQueues(queue);
    });
  }

  it('isolation none: process.exit() from a callback runs shutdown("exit") and nacks before the process ends', async () => {
    const { queue, worker } = await start(['--isolation', 'none']);
    await publish(queue, { do: 'exit' }, { messageId: 'quit' });
    const { code } = await worker.exit();
    assert.equal(code, 1);
    assert.deepEqual(shutdowns(worker, 'quit'), ['exit']);
    assert.equal(await eventually(async () => ((await depth(queue)) === 1 ? 1 : undefined), 10_000, 'the message back in the queue'), 1);
  });

  it('SIGTERM mid-callback: the callback finishes, its message is acked, exit 0', async () => {
    const { queue, worker } = await start();
    await publish(queue, { do: 'sleep', ms: 1500 }, { messageId: 'slow' });
    await worker.waitFor((l) => l.msg === 'callback' && l.messageId === 'slow');
    worker.kill('SIGTERM');
    const { code } = await worker.exit();
    assert.equal(code, 0);
    assert.ok(worker.lines.some((l) => l.msg === 'handled' && l.messageId === 'slow'));
    assert.equal(shutdowns(worker, 'slow').length, 0);
    assert.equal(await depth(queue), 0);
  });

  for (const isolation of ['thread', 'none'] as const) {
    it(`isolation ${isolation}: SIGTERM with a callback that outlives stopTimeout runs shutdown("stop-timeout") and nacks`, async () => {
      const { queue, worker } = await start(['--stop-timeout', '1', '--isolation', isolation]);
      await publish(queue, { do: 'sleep', ms: 20_000 }, { messageId: 'stuck' });
      await worker.waitFor((l) => l.msg === 'callback' && l.messageId === 'stuck');
      const t0 = Date.now();
      worker.kill('SIGTERM');
      const { code } = await worker.exit();
      assert.equal(code, 0);
      assert.ok(Date.now() - t0 < 10_000, 'bounded by stopTimeout, not by the callback');
      assert.deepEqual(shutdowns(worker, 'stuck'), ['stop-timeout']);
      assert.ok(worker.lines.some((l) => l.level === 'critical' && l.reason === 'stop-timeout'));
      const back = await drain(queue);
      assert.equal(back.length, 1);
      assert.equal(back[0]?.properties.messageId, 'stuck');
    });
  }
});
