import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ErrorCode, InvalidPayloadError, Publisher, defineQueue } from '../../src/index.js';
import { depth, drain, eventually, publish } from '../helpers/broker.js';
import { consuming, fixture, runWorker, type Proc } from '../helpers/process.js';
import { testScope } from '../helpers/scope.js';
import { freePort } from '../helpers/sup-harness.js';
import { asyncQueue, noteQueue, resizeQueue } from '../fixtures/typed/queues.js';

const RESIZE = fixture('typed/resize-worker.ts');
const NOTE = fixture('typed/note-worker.ts');

/** Every dead letter of `queue`, by message id, once `count` of them are there. */
async function deadLetters(queue: string, count: number): Promise<Map<string, Record<string, unknown>>> {
  const dead = new Map<string, Record<string, unknown>>();
  await eventually(async () => {
    for (const m of await drain(`${queue}.dlq`)) dead.set(String(m.properties.messageId), m.properties.headers ?? {});
    return dead.size >= count;
  }, 20_000, `${count} dead letter(s) in ${queue}.dlq`);
  return dead;
}

describe('typed messages: one schema for the worker and the publisher', () => {
  const { queue, track } = testScope();
  const publisher = new Publisher();
  after(() => publisher.close());

  async function start(file: string, name: string, args: string[] = [], env: Record<string, string> = {}): Promise<Proc> {
    const p = track(runWorker(file, args, { QUEUE: name, ...env }));
    await consuming(p);
    return p;
  }

  for (const isolation of ['thread', 'none'] as const) {
    it(`zod (isolation ${isolation}): a valid payload reaches the callback typed; an invalid one goes to the dlq with every failing path, unrun`, async () => {
      const name = queue(`typed-zod-${isolation}`);
      const definition = resizeQueue(name);
      const httpPort = await freePort();
      const worker = await start(RESIZE, name, ['--isolation', isolation, '--http-port', String(httpPort)]);
      await publisher.to(definition).publish({ id: 1, width: 30 }, { messageId: 'valid' });
      // what another application (or an older version) could send: past the publisher's check
      await publish(name, { id: 'two', width: -3, tags: ['a', 7], extra: true }, { messageId: 'invalid', contentType: 'application/json' });
      await publish(name, 'not json at all', { messageId: 'malformed' });
      const dead = await deadLetters(name, 2);
      const reason = String(dead.get('invalid')?.['x-rabbit-worker-reason']);
      assert.match(reason, /^invalid payload at id, width, tags\[1\]: /, reason);
      assert.match(reason, /id: .*expected number/);
      assert.match(reason, /tags\[1\]: .*expected string/);
      assert.match(String(dead.get('malformed')?.['x-rabbit-worker-reason']), /^invalid JSON: /);
      await worker.waitFor((l) => l.msg === 'resizing' && l.messageId === 'valid');
      const valid = worker.lines.find((l) => l.msg === 'resizing' && l.messageId === 'valid');
      // the schema's default applied: tags arrived as []
      assert.equal(valid?.tags, 0);
      assert.equal(worker.lines.filter((l) => l.msg === 'resizing' && l.messageId !== 'valid').length, 0, 'the callback never ran for the invalid ones');
      assert.ok(worker.lines.some((l) => l.level === 'warn' && l.messageId === 'invalid' && /dead-lettered/.test(String(l.msg))));
      // the dead-letter metric's fixed reasons tell a schema failure from a body that is not JSON
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      assert.match(metrics, /rabbit_worker_dead_lettered_total\{[^}]*reason="invalid_payload"[^}]*\} 1\n/);
      assert.match(metrics, /rabbit_worker_dead_lettered_total\{[^}]*reason="malformed"[^}]*\} 1\n/);
      worker.kill('SIGTERM');
      assert.equal((await worker.exit()).code, 0);
    });
  }

  it('the publisher validates before anything leaves the process: INVALID_PAYLOAD names every path, nothing is sent', async () => {
    const name = queue('typed-pub');
    const definition = resizeQueue(name);
    const worker = await start(RESIZE, name);
    // a wrong payload, forced past the compiler (the compile-time test shows the compiler refusing it)
    const error = await publisher.publish(definition, { id: 1.5, widht: 3 } as never).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof InvalidPayloadError, String(error));
    assert.equal(error.code, ErrorCode.INVALID_PAYLOAD);
    assert.deepEqual(error.issues.map((i) => i.path), ['id', 'width']);
    assert.match(error.message, new RegExp(`^publish to "${name}": invalid payload at id, width: `));
    await assert.rejects(publisher.to(definition).request({ id: 2, width: 0 }, { timeoutMs: 2000 }), (e: InvalidPayloadError) => e.code === ErrorCode.INVALID_PAYLOAD);
    await publisher.to(definition).publish({ id: 3, width: 3 }, { messageId: 'after' });
    await worker.waitFor((l) => l.msg === 'resizing' && l.messageId === 'after');
    assert.equal(worker.lines.filter((l) => l.msg === 'resizing').length, 1, 'only the valid message was sent');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('valibot: the same contract with another Standard Schema library', async () => {
    const name = queue('typed-valibot');
    const definition = noteQueue(name);
    const worker = await start(NOTE, name);
    await publisher.to(definition).publish({ text: 'fine', stars: 5 }, { messageId: 'ok' });
    await assert.rejects(publisher.publish(definition, { text: '', stars: 9 }), (e: InvalidPayloadError) => e.code === ErrorCode.INVALID_PAYLOAD && e.issues.map((i) => i.path).join() === 'text,stars');
    await publish(name, { stars: 0 }, { messageId: 'bad' });
    const dead = await deadLetters(name, 1);
    assert.match(String(dead.get('bad')?.['x-rabbit-worker-reason']), /^invalid payload at text, stars: /);
    const handled = await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'ok');
    assert.deepEqual(handled.payload, { text: 'fine', stars: 5 });
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('an asynchronous schema is awaited once before the callback', async () => {
    const name = queue('typed-async');
    const definition = asyncQueue(name);
    const worker = await start(NOTE, name, [], { ASYNC: '1' });
    await publisher.publish(definition, { code: 'ok-1' }, { messageId: 'ok' });
    await assert.rejects(publisher.publish(definition, { code: 'nope' }), (e: InvalidPayloadError) => e.issues[0]?.message === 'must start with "ok"');
    await publish(name, { code: 'nope' }, { messageId: 'bad' });
    const dead = await deadLetters(name, 1);
    assert.equal(dead.get('bad')?.['x-rabbit-worker-reason'], 'invalid payload at code: must start with "ok"');
    await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'ok');
    assert.equal(worker.lines.filter((l) => l.msg === 'handled').length, 1);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('a reason with hundreds of failing paths names them within the header cap', async () => {
    const name = queue('typed-many');
    const worker = await start(RESIZE, name);
    await publish(name, { id: 1, width: 1, tags: Array.from({ length: 300 }, (_, i) => i) }, { messageId: 'many' });
    const dead = await deadLetters(name, 1);
    const reason = String(dead.get('many')?.['x-rabbit-worker-reason']);
    assert.ok(reason.length <= 1024, `${reason.length} characters`);
    assert.match(reason, /^invalid payload at tags\[0\], tags\[1\], .* … and \d+ more$/);
    assert.equal(await depth(name), 0);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('defineQueue refuses what cannot work, naming the field', () => {
    assert.throws(() => defineQueue({ name: '' }), /name must be a string/);
    assert.throws(() => defineQueue({ name: 'q', schema: { parse: () => 1 } as never }), /schema is not a Standard Schema/);
    assert.throws(() => defineQueue({ name: 'q', maxPriority: 10 }), /maxPriority needs queueType: 'classic'/);
    assert.throws(() => defineQueue({ name: 'q', queueType: 'classic', maxPriority: 300 }), /maxPriority must be an integer from 1 to 255/);
  });
});
