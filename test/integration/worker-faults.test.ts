import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { declareQueue, depth, drain, eventually, publish } from '../helpers/broker.js';
import { consuming, fixture, runWorker } from '../helpers/process.js';
import { testScope } from '../helpers/scope.js';
import { closeConnectionsOfPid } from '../helpers/rabbitmqctl.js';

const WORKER = fixture('behave-worker.ts');

describe('faults: outages, poison messages, deadlines', () => {
  const { queue, track } = testScope();

  it('a lost connection: reconnects, resumes consuming; the message in flight comes back without counting as an attempt', async () => {
    const q = queue('outage');
    const worker = track(runWorker(WORKER, ['--max-attempts', '1'], { QUEUE: q }));
    await consuming(worker);
    await publish(q, { do: 'sleep', ms: 6000 }, { messageId: 'in-flight' });
    await worker.waitFor((l) => l.msg === 'callback' && l.messageId === 'in-flight');
    const t0 = Date.now();
    assert.equal(closeConnectionsOfPid(worker.child.pid as number), 1);
    await worker.waitFor((l) => l.msg === 'reconnected; consuming again', 30_000, 'the reconnection');
    const recoveryMs = Date.now() - t0;
    // with maxAttempts 1, counting the outage as an attempt would dead-letter it: it must be handled instead
    await eventually(() => worker.lines.filter((l) => l.msg === 'handled' && l.messageId === 'in-flight').length >= 2, 30_000, 'the redelivery handled', worker);
    const attempts = worker.lines.filter((l) => l.msg === 'callback' && l.messageId === 'in-flight').map((l) => l.attempt);
    assert.deepEqual(attempts, [1, 1]);
    await publish(q, { do: 'ack' }, { messageId: 'after' });
    await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'after');
    assert.equal((await drain(`${q}.dlq`)).length, 0);
    assert.ok(!worker.lines.some((l) => /PRECONDITION_FAILED|unknown delivery tag/.test(JSON.stringify(l))), 'no ack ever reached a stale channel');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
    assert.equal(await depth(q), 0);
    console.log(`# reconnected ${recoveryMs} ms after the connection was closed`);
  });

  for (const queueType of ['classic', 'quorum'] as const) {
    it(`${queueType}: a message that kills its process is counted across restarts and dead-lettered after maxAttempts`, async () => {
      const q = queue(`poison-${queueType}`);
      await declareQueue(q, queueType);
      await publish(q, { do: 'kill' }, { messageId: 'poison' });
      await publish(q, { do: 'ack' }, { messageId: 'healthy' });
      let runs = 0;
      let handledHealthy = false;
      // each run is a fresh process, as a process manager would start; bounded
      while (runs < 6) {
        runs++;
        const worker = track(runWorker(WORKER, ['--queue-type', queueType, '--max-attempts', '3', '--isolation', 'none', '--max-messages', '1'], { QUEUE: q }));
        const { signal, code } = await worker.exit(30_000);
        handledHealthy ||= worker.lines.some((l) => l.msg === 'handled' && l.messageId === 'healthy');
        if (signal === null && code === 0 && (await depth(`${q}.dlq`)) === 1) break;
      }
      const dead = await drain(`${q}.dlq`);
      assert.equal(dead.length, 1, 'the poison message is dead-lettered');
      assert.equal(dead[0]?.properties.messageId, 'poison');
      assert.match(String(dead[0]?.properties.headers?.['x-rabbit-worker-reason']), /more than maxAttempts \(3\)/);
      assert.ok(runs <= 5, `stopped looping after ${runs} runs`);
      if (!handledHealthy) {
        const last = track(runWorker(WORKER, ['--queue-type', queueType, '--max-messages', '1'], { QUEUE: q }));
        assert.equal((await last.exit()).code, 0);
        handledHealthy = last.lines.some((l) => l.msg === 'handled' && l.messageId === 'healthy');
      }
      assert.ok(handledHealthy, 'the healthy message is handled');
    });
  }

  it('messageTimeout: the signal aborts and the message is retried; a callback that ignores it gets its isolate recycled', async () => {
    const q = queue('deadline');
    const worker = track(runWorker(WORKER, ['--message-timeout', '1', '--retry-delay-ms', '200', '--max-attempts', '2'], { QUEUE: q }));
    await consuming(worker);
    await publish(q, { do: 'abortable', ms: 60_000 }, { messageId: 'polite' });
    await worker.waitFor((l) => l.msg === 'callback' && l.messageId === 'polite' && l.attempt === 2, 30_000, 'the retry of the polite callback');
    await publish(q, { do: 'sleep', ms: 60_000 }, { messageId: 'stubborn' });
    await worker.waitFor((l) => l.level === 'error' && /ignored its aborted signal/.test(String(l.msg)), 30_000, 'the recycle');
    await publish(q, { do: 'ack' }, { messageId: 'next' });
    await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'next', 30_000, 'work going on in a fresh isolate');
    const dead = new Map((await eventually(async () => {
      const m = await drain(`${q}.dlq`);
      return m.length > 0 ? m : undefined;
    }, 30_000, 'dead letters', worker)).map((m) => [m.properties.messageId, m]));
    assert.ok(dead.has('polite') || dead.has('stubborn'), 'past maxAttempts, deadline failures are dead-lettered');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('12.6: past messageTimeout, the retried copy runs in a fresh isolate; a neighbour of a stuck callback is "recycled", not counted', async () => {
    const q = queue('stuck');
    // the retry comes back after the neighbour's copy ran: every delivery of the stuck message blocks its isolate
    const worker = track(runWorker(WORKER, ['--message-timeout', '10', '--retry-delay-ms', '12000', '--max-attempts', '2', '--prefetch', '2'], { QUEUE: q }));
    await consuming(worker);
    await publish(q, { do: 'block', ms: 120_000 }, { messageId: 'stuck' });
    const started = await worker.waitFor((l) => l.msg === 'callback' && l.messageId === 'stuck');
    // a neighbour handed to the same isolate before the stuck one's deadline, young enough not to pass its
    // own before that isolate is replaced: it cannot run (the loop is blocked) and is not at fault
    // (the stuck one's deadline: 10 s; its isolate is replaced 5 s later; the neighbour is then ~7 s old)
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(started.time) + 8000 - Date.now())));
    await publish(q, { do: 'sleep', ms: 200 }, { messageId: 'neighbour' });
    // each delivery of the stuck message times out in its own isolate, and then blocks only that one
    const [letter] = await eventually(async () => {
      const m = await drain(`${q}.dlq`);
      return m.length > 0 ? m : undefined;
    }, 90_000, 'the stuck message dead-lettered after 2 attempts', worker);
    assert.equal(letter?.properties.messageId, 'stuck');
    assert.match(String(letter?.properties.headers?.['x-rabbit-worker-reason']), /^failed 2 times \(maxAttempts 2\); last error: callback ran past messageTimeout \(10s\)/);
    assert.deepEqual(worker.lines.filter((l) => l.msg === 'callback' && l.messageId === 'stuck').map((l) => l.attempt), [1, 2]);
    // the neighbour: either it finished before its isolate was replaced, or it was recycled and ran again, uncounted
    await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'neighbour', 60_000, 'the neighbour handled');
    assert.ok(worker.lines.filter((l) => l.msg === 'callback' && l.messageId === 'neighbour').every((l) => l.attempt === 1), 'never counted');
    const reasons = worker.lines.filter((l) => l.msg === 'custom shutdown').map((l) => `${String(l.messageId)}:${String(l.reason)}`);
    assert.ok(reasons.length > 0 && reasons.every((r) => r === 'neighbour:recycled'), `each reason says what happened: ${reasons.join(', ')}`);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('message.retry(delayMs) brings the message back after the delay, not before', async () => {
    const q = queue('retry');
    const worker = track(runWorker(WORKER, [], { QUEUE: q }));
    await consuming(worker);
    await publish(q, { do: 'retry-once', ms: 400 }, { messageId: 'later' });
    await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'later' && worker.lines.filter((x) => x.msg === 'callback' && x.messageId === 'later').length === 2, 30_000, 'the second attempt');
    const [first, second] = worker.lines.filter((l) => l.msg === 'callback' && l.messageId === 'later');
    assert.equal(second?.attempt, 2);
    assert.ok(Number(second?.time) - Number(first?.time) >= 320, 'waited at least the delay less its jitter');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });
});
