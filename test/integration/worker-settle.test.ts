import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { declareQueue, depth, drain, eventually, publish, uniqueQueue } from '../helpers/broker.js';
import { consuming, fixture, runWorker, type Proc } from '../helpers/process.js';
import { testScope } from '../helpers/scope.js';

const WORKER = fixture('behave-worker.ts');

describe('settling messages', () => {
  const { queues, track } = testScope();

  async function start(queue: string, args: string[] = [], env: Record<string, string> = {}): Promise<Proc> {
    queues.push(queue);
    const p = track(runWorker(WORKER, args, { QUEUE: queue, ...env }));
    await consuming(p);
    return p;
  }

  it('acks, dead-letters malformed JSON with its reason, ignores a double ack, acks an unsettled callback once warned', async () => {
    const queue = uniqueQueue('settle');
    const worker = await start(queue);
    await publish(queue, { do: 'ack' }, { messageId: 'm-ack' });
    await publish(queue, 'this is not json', { messageId: 'm-bad' });
    await publish(queue, { do: 'double-ack' }, { messageId: 'm-double' });
    await publish(queue, { do: 'none' }, { messageId: 'm-none-1' });
    await publish(queue, { do: 'none' }, { messageId: 'm-none-2' });
    await publish(queue, { do: 'ack' }, { messageId: 'm-last' });
    await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'm-last');

    const dead = await eventually(async () => {
      const messages = await drain(`${queue}.dlq`);
      return messages.length > 0 ? messages : undefined;
    }, 10_000, 'the malformed message in the dlq');
    assert.equal(dead.length, 1);
    assert.equal(dead[0]?.properties.messageId, 'm-bad');
    assert.equal(dead[0]?.content.toString(), 'this is not json');
    assert.match(String(dead[0]?.properties.headers?.['x-rabbit-worker-reason']), /^invalid JSON: /);
    assert.ok(worker.lines.some((l) => l.level === 'warn' && /dead-lettered/.test(String(l.msg)) && l.messageId === 'm-bad'));

    assert.ok(worker.lines.some((l) => l.code === 'ALREADY_SETTLED' && l.messageId === 'm-double'), 'the second ack is logged');
    const unsettledWarnings = worker.lines.filter((l) => l.code === 'UNSETTLED_ACKED');
    assert.equal(unsettledWarnings.length, 1, 'warned once per worker');

    await eventually(async () => (await depth(queue)) === 0, 10_000, 'an empty queue');
    worker.kill('SIGTERM');
    const { code } = await worker.exit();
    assert.equal(code, 0);
    assert.equal((await drain(queue)).length, 0, 'nothing requeued: every message was acked on the same channel');
  });

  it('retries a throwing callback with growing delays until maxAttempts, then dead-letters it with the error; PermanentError goes straight to the dlq', async () => {
    const queue = uniqueQueue('throw');
    queues.push(`${queue}.retry.300`, `${queue}.retry.600`);
    const worker = await start(queue, ['--max-attempts', '3', '--retry-delay-ms', '300', '--retry-backoff', '2']);
    await publish(queue, { do: 'throw' }, { messageId: 'm-throw' });
    await publish(queue, { do: 'permanent' }, { messageId: 'm-perm' });
    await publish(queue, { do: 'reject' }, { messageId: 'm-reject' });
    const dead = new Map<string, Record<string, unknown>>();
    await eventually(async () => {
      for (const m of await drain(`${queue}.dlq`)) dead.set(String(m.properties.messageId), m.properties.headers ?? {});
      return dead.size === 3;
    }, 20_000, 'three dead letters');
    const tries = worker.lines.filter((l) => l.msg === 'callback' && l.messageId === 'm-throw');
    assert.deepEqual(tries.map((l) => l.attempt), [1, 2, 3]);
    const times = tries.map((l) => Number(l.time));
    // the delays of the schedule (300 ms, then 600 ms), less at most 20 % jitter
    assert.ok((times[1] as number) - (times[0] as number) >= 240, `first retry after ${(times[1] as number) - (times[0] as number)} ms`);
    assert.ok((times[2] as number) - (times[1] as number) >= 480, `second retry after ${(times[2] as number) - (times[1] as number)} ms`);
    const headers = dead.get('m-throw') ?? {};
    assert.ok(String(headers['x-rabbit-worker-first-failed-at']) < String(headers['x-rabbit-worker-failed-at']), 'first and last failure times');
    assert.equal(headers['x-rabbit-worker-attempts'], 3);
    assert.match(String(dead.get('m-throw')?.['x-rabbit-worker-reason']), /^failed 3 times \(maxAttempts 3\); last error: told to throw$/);
    assert.match(String(dead.get('m-throw')?.['x-rabbit-worker-stack']), /behave-worker/);
    assert.equal(dead.get('m-perm')?.['x-rabbit-worker-reason'], 'told to fail for good');
    assert.equal(worker.lines.filter((l) => l.msg === 'callback' && l.messageId === 'm-perm').length, 1);
    assert.equal(dead.get('m-reject')?.['x-rabbit-worker-reason'], 'told to reject');
    assert.equal(dead.get('m-reject')?.['x-rabbit-worker-queue'], queue);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('counts attempts on a classic queue too', async () => {
    const queue = uniqueQueue('classic');
    queues.push(queue, `${queue}.retry.100`);
    await declareQueue(queue, 'classic');
    const worker = await start(queue, ['--max-attempts', '2', '--queue-type', 'classic', '--retry-delay-ms', '100']);
    await publish(queue, { do: 'throw' }, { messageId: 'm-classic' });
    const dead = await eventually(async () => {
      const m = await drain(`${queue}.dlq`);
      return m.length > 0 ? m : undefined;
    }, 20_000, 'the dead letter');
    assert.equal(dead[0]?.properties.headers?.['x-rabbit-worker-attempts'], 2);
    assert.deepEqual(worker.lines.filter((l) => l.msg === 'callback').map((l) => l.attempt), [1, 2]);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });
});
