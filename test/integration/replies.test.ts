import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ErrorCode, Publisher, RequestFailedError, type RabbitWorkerError } from '../../src/index.js';
import { declareQueue, depth, drain, eventually } from '../helpers/broker.js';
import { consuming, fixture, runWorker, type Proc } from '../helpers/process.js';
import { testScope } from '../helpers/scope.js';
import { resizeQueue } from '../fixtures/typed/queues.js';

const RESIZE = fixture('typed/resize-worker.ts');

describe('replies: publisher.request() through direct reply-to', () => {
  const { queue, track } = testScope();
  const publisher = new Publisher();
  after(() => publisher.close());

  async function start(name: string, args: string[] = []): Promise<Proc> {
    const p = track(runWorker(RESIZE, args, { QUEUE: name, MAX_ATTEMPTS: '2' }));
    await consuming(p);
    return p;
  }

  it('resolves with message.reply() or the return value, typed and checked by the reply schema; each request gets its own reply', async () => {
    const name = queue('reply');
    const definition = resizeQueue(name);
    const worker = await start(name, ['--prefetch', '10']);
    const resize = publisher.to(definition);
    const replied = await resize.request({ id: 1, width: 4, do: 'reply' }, { timeoutMs: 10_000 });
    assert.deepEqual(replied, { id: 1, area: 16 });
    const returned: { id: number; area: number } = await publisher.request(definition, { id: 2, width: 5, do: 'return' }, { timeoutMs: 10_000 });
    assert.deepEqual(returned, { id: 2, area: 10 });
    // 30 at once over one channel: correlation ids keep them apart
    const many = await Promise.all(Array.from({ length: 30 }, (_, i) => resize.request({ id: 100 + i, width: i + 1, do: i % 2 === 0 ? 'reply' : 'return' }, { timeoutMs: 15_000 })));
    many.forEach((reply, i) => assert.deepEqual(reply, { id: 100 + i, area: i % 2 === 0 ? (i + 1) ** 2 : (i + 1) * 2 }));
    // a plain publish to the same worker: a return value with no one to answer is ignored
    await resize.publish({ id: 3, width: 1, do: 'return' }, { messageId: 'no-reply' });
    await worker.waitFor((l) => l.msg === 'resizing' && l.messageId === 'no-reply');
    await assert.rejects(resize.request({ id: 4, width: 1, do: 'bad-reply' }, { timeoutMs: 10_000 }), (e: RabbitWorkerError) => e.code === ErrorCode.INVALID_REPLY && /id: .*expected number/.test(e.message));
    // every request was acked after its reply: nothing left, nothing redelivered, nothing dead
    await eventually(async () => (await depth(name)) === 0, 10_000, 'an empty queue');
    assert.equal((await drain(`${name}.dlq`)).length, 0);
    assert.equal(worker.lines.filter((l) => l.msg === 'resizing' && l.attempt !== 1).length, 0, 'no redelivery');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('a dead-lettered request rejects with the reason: rejected, invalid payload, past maxAttempts; a retried one replies once it succeeds', async () => {
    const name = queue('reply-fail');
    const definition = resizeQueue(name);
    const worker = await start(name);
    await assert.rejects(publisher.request(definition, { id: 1, width: 1, do: 'reject' }, { timeoutMs: 10_000 }), (e: RequestFailedError) => {
      assert.ok(e instanceof RequestFailedError);
      assert.equal(e.code, ErrorCode.REQUEST_FAILED);
      assert.equal(e.reason, 'image 1 is gone');
      assert.equal(e.deadLetterReason, 'rejected');
      return true;
    });
    // the queue's name alone skips the publisher's check: the worker's schema refuses it
    await assert.rejects(publisher.request(name, { id: 'x', width: 1 }, { timeoutMs: 10_000 }), (e: RequestFailedError) => e.deadLetterReason === 'invalid_payload' && /^invalid payload at id: /.test(e.reason));
    await assert.rejects(publisher.request(definition, { id: 2, width: 1, do: 'throw' }, { timeoutMs: 10_000 }), (e: RequestFailedError) => e.deadLetterReason === 'max_attempts' && /failed 2 times \(maxAttempts 2\); last error: cannot resize 2/.test(e.reason));
    // attempt 1 throws, its retry (same reply address, same correlation id) answers
    assert.deepEqual(await publisher.request(definition, { id: 3, width: 1, do: 'flaky' }, { timeoutMs: 10_000 }), { id: 3, area: 2 });
    // a reply past the limit (seen: a 200 MB one aborted the whole process while crossing to the main thread)
    await assert.rejects(publisher.request(name, { id: 5, width: 1, do: 'huge-reply' }, { timeoutMs: 20_000 }), (e: RequestFailedError) => /^the reply is too large \(\d+ bytes, more than 16777216\)/.test(e.reason));
    assert.deepEqual(await publisher.request(definition, { id: 6, width: 2, do: 'return' }, { timeoutMs: 10_000 }), { id: 6, area: 4 }, 'the same process answers the next one');
    assert.equal((await drain(`${name}.dlq`)).length, 4);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('no reply in time rejects with REQUEST_TIMEOUT; the late reply, once a worker runs, goes nowhere', async () => {
    const name = queue('reply-timeout');
    const definition = resizeQueue(name);
    await declareQueue(name);
    const started = Date.now();
    await assert.rejects(publisher.request(definition, { id: 1, width: 2, do: 'reply' }, { timeoutMs: 800 }), (e: RabbitWorkerError) => e.code === ErrorCode.REQUEST_TIMEOUT);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 750 && elapsed < 5000, `timed out after ${elapsed} ms`);
    const worker = await start(name);
    await worker.waitFor((l) => l.msg === 'resizing');
    // its reply was dropped (no one waits for that correlation id), and the request acked
    await eventually(async () => (await depth(name)) === 0, 10_000, 'the request acked');
    assert.deepEqual(await publisher.request(definition, { id: 2, width: 2, do: 'reply' }, { timeoutMs: 10_000 }), { id: 2, area: 4 });
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('a requester that left before the reply: the worker acks the request anyway', async () => {
    const name = queue('reply-gone');
    const definition = resizeQueue(name);
    const worker = await start(name, ['--isolation', 'none']);
    const leaving = new Publisher();
    const request = leaving.request(definition, { id: 9, width: 2, do: 'reply' }, { timeoutMs: 10_000 }).then(() => 'replied', (e: RabbitWorkerError) => e.code);
    await worker.waitFor((l) => l.msg === 'resizing');
    await leaving.close();
    assert.ok(['replied', ErrorCode.PUBLISHER_CLOSED].includes(await request));
    await eventually(async () => (await depth(name)) === 0, 10_000, 'the request acked');
    assert.equal((await drain(`${name}.dlq`)).length, 0);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });
});
