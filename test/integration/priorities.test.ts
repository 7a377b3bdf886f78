import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ErrorCode, Publisher, defineQueue, type RabbitWorkerError } from '../../src/index.js';
import { declareQueue } from '../helpers/broker.js';
import { consuming, fixture, runWorker } from '../helpers/process.js';
import { testScope } from '../helpers/scope.js';

const WORKER = fixture('typed/priority-worker.ts');

describe('priorities: honoured where RabbitMQ honours them, refused elsewhere', () => {
  const { queue, track } = testScope();
  const publisher = new Publisher();
  after(() => publisher.close());

  it('a classic queue with maxPriority delivers higher priorities first', async () => {
    const name = queue('prio');
    const jobs = defineQueue({ name, queueType: 'classic', maxPriority: 10 });
    // the worker declares the queue (x-max-priority 10), then stops: messages wait for the next one
    const first = track(runWorker(WORKER, [], { QUEUE: name }));
    await consuming(first);
    first.kill('SIGTERM');
    assert.equal((await first.exit()).code, 0);
    for (let i = 0; i < 5; i++) await publisher.publish(jobs, { i }, { priority: 1, messageId: `low-${i}` });
    for (let i = 0; i < 5; i++) await publisher.publish(jobs, { i }, { priority: 9, messageId: `high-${i}` });
    await publisher.publish(jobs, { i: 0 }, { messageId: 'none' });
    const worker = track(runWorker(WORKER, [], { QUEUE: name }));
    await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'none', 20_000, 'the last message');
    const order = worker.lines.filter((l) => l.msg === 'handled').map((l) => String(l.messageId));
    assert.deepEqual(order, ['high-0', 'high-1', 'high-2', 'high-3', 'high-4', 'low-0', 'low-1', 'low-2', 'low-3', 'low-4', 'none']);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);

    // another maxPriority for the same queue: a clear TOPOLOGY_MISMATCH, exit 2
    const other = track(runWorker(WORKER, ['--max-priority', '5'], { QUEUE: name }));
    assert.equal((await other.exit()).code, 2);
    const line = other.lines.find((l) => l.code === ErrorCode.TOPOLOGY_MISMATCH);
    assert.match(String(line?.msg), /x-max-priority.*set maxPriority to match it/);
  });

  it('the publisher refuses a priority that would do nothing, and one above maxPriority', async () => {
    const name = queue('prio-refused');
    await declareQueue(name);
    await assert.rejects(publisher.publish(name, { i: 1 }, { priority: 5 }), (e: RabbitWorkerError) => e.code === ErrorCode.PRIORITY_UNSUPPORTED && /defineQueue\(\{ name: '.*', queueType: 'classic', maxPriority: 10 \}\)/.test(e.message));
    const quorum = defineQueue({ name });
    await assert.rejects(publisher.to(quorum).publish({ i: 1 }, { priority: 5 }), (e: RabbitWorkerError) => e.code === ErrorCode.PRIORITY_UNSUPPORTED);
    const classic = defineQueue({ name, queueType: 'classic', maxPriority: 3 });
    await assert.rejects(publisher.publish(classic, { i: 1 }, { priority: 4 }), /priority must be an integer from 0 to 3/);
  });

  it('a worker with maxPriority on a quorum queue stops before connecting (exit 2), naming the setting', async () => {
    const name = queue('prio-quorum');
    const worker = track(runWorker(WORKER, ['--queue-type', 'quorum'], { QUEUE: name }));
    assert.equal((await worker.exit()).code, 2);
    assert.ok(worker.lines.some((l) => /^maxPriority: priorities need queueType 'classic'/.test(String(l.msg))), worker.stdout);
  });
});
