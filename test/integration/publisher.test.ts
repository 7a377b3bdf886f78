import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ErrorCode, Publisher } from '../../src/index.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeConnection, declareQueue, deleteQueues, drain, eventually, uniqueQueue, withChannel } from '../helpers/broker.js';
import { closeConnectionsOfPid } from '../helpers/rabbitmqctl.js';
import { cli } from '../helpers/process.js';

describe('Publisher', () => {
  const queues: string[] = [];
  const publisher = new Publisher();
  after(async () => {
    await publisher.close();
    await deleteQueues(...queues);
    await closeConnection();
  });

  it('publishes persistent JSON with a message id, confirmed', async () => {
    const queue = uniqueQueue('pub');
    queues.push(queue);
    await declareQueue(queue);
    const id = await publisher.publish(queue, { id: 42 });
    await publisher.publish(queue, Buffer.from([1, 2, 3]), { messageId: 'raw', headers: { tenant: 't1' } });
    const messages = await drain(queue);
    assert.equal(messages.length, 2);
    const [json, raw] = messages;
    assert.equal(json?.properties.messageId, id);
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(json?.properties.deliveryMode, 2, 'persistent');
    assert.equal(json?.properties.contentType, 'application/json');
    assert.deepEqual(JSON.parse(String(json?.content)), { id: 42 });
    assert.equal(raw?.properties.messageId, 'raw');
    assert.equal(raw?.properties.headers?.tenant, 't1');
    assert.deepEqual([...(raw?.content ?? [])], [1, 2, 3]);
  });

  it('rejects when the queue does not exist: never a silent drop', async () => {
    const queue = uniqueQueue('missing');
    await assert.rejects(publisher.publish(queue, { x: 1 }), (error: { code?: string; message: string }) => {
      assert.equal(error.code, ErrorCode.PUBLISH_UNROUTABLE);
      assert.match(error.message, new RegExp(`queue "${queue}" does not exist`));
      return true;
    });
    // the publisher still works afterwards
    const ok = uniqueQueue('after');
    queues.push(ok);
    await declareQueue(ok);
    await publisher.publish(ok, { fine: true });
    assert.equal((await drain(ok)).length, 1);
  });

  it('rejects with BROKER_UNREACHABLE, the password redacted, when no broker answers', async () => {
    const lonely = new Publisher({ url: 'amqp://u:topsecret@127.0.0.1:1', publishTimeoutMs: 1500 });
    const t0 = Date.now();
    await assert.rejects(lonely.publish('q', {}), (error: { code?: string; message: string }) => {
      assert.equal(error.code, ErrorCode.BROKER_UNREACHABLE);
      assert.ok(!error.message.includes('topsecret'));
      assert.match(error.message, /amqp:\/\/u:\*\*\*@127\.0\.0\.1:1/);
      return true;
    });
    assert.ok(Date.now() - t0 < 10_000, 'bounded by publishTimeoutMs');
    await lonely.close();
  });

  it('8.2: the deadline holds while the GC runs (a timeout signal nothing refers to was collected on Node 20)', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    assert.equal(typeof gc, 'function', 'tests run with --expose-gc');
    const lonely = new Publisher({ url: 'amqp://u:p@127.0.0.1:1', publishTimeoutMs: 2000 });
    const collecting = setInterval(() => gc?.(), 25);
    const t0 = Date.now();
    try {
      await assert.rejects(lonely.publish('q', {}), { code: ErrorCode.BROKER_UNREACHABLE });
    } finally {
      clearInterval(collecting);
      await lonely.close();
    }
    const ms = Date.now() - t0;
    assert.ok(ms >= 1900 && ms < 6000, `rejected after ${ms} ms (publishTimeoutMs 2000)`);
  });

  it('8.10: a wrong password rejects at once, naming the user and vhost (retrying cannot help)', async () => {
    const wrong = new Publisher({ url: 'amqp://guest:wr@ng@127.0.0.1:5672', publishTimeoutMs: 20_000 });
    const t0 = Date.now();
    await assert.rejects(wrong.publish('q', {}), (error: { code?: string; message: string }) => {
      assert.equal(error.code, ErrorCode.BROKER_ACCESS_REFUSED);
      assert.match(error.message, /^credentials refused for user "guest" on vhost "\/" at 127\.0\.0\.1:5672/);
      assert.doesNotMatch(error.message, /wr@ng|ng@127/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000, `rejected after ${Date.now() - t0} ms, not at the deadline`);
    await wrong.close();
  });

  it('8.8: a password on the command line is warned about once; --url-file keeps it out of ps', async () => {
    const queue = uniqueQueue('url-flag');
    queues.push(queue);
    await declareQueue(queue);
    const inline = cli(['publish', queue, '{}', '--url', 'amqp://guest:guest@127.0.0.1:5672']);
    assert.equal((await inline.exit()).code, 0, inline.stderr);
    assert.match(inline.stderr, /^rabbit-worker: warning: the password in --url is visible to every local user \(ps\); set AMQP_URL or use --url-file\n$/);
    const dir = mkdtempSync(join(tmpdir(), 'rw-url-'));
    try {
      writeFileSync(join(dir, 'url'), 'amqp://guest:guest@127.0.0.1:5672\n', { mode: 0o600 });
      const fromFile = cli(['publish', queue, '{}', '--url-file', join(dir, 'url')]);
      assert.equal((await fromFile.exit()).code, 0, fromFile.stderr);
      assert.equal(fromFile.stderr, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal((await drain(queue)).length, 2);
  });

  it('delayMs: the message reaches the queue after the delay (whole seconds, never earlier), through the shared levels; a missing queue is an error', async () => {
    const queue = uniqueQueue('delay');
    queues.push(queue);
    await declareQueue(queue);
    const t0 = Date.now();
    await publisher.publish(queue, { later: true }, { delayMs: 700, messageId: 'delayed' });
    assert.equal((await drain(queue)).length, 0, 'not there at once');
    const [message] = await eventually(async () => {
      const m = await drain(queue);
      return m.length > 0 ? m : undefined;
    }, 10_000, 'the delayed message');
    assert.ok(Date.now() - t0 >= 1000, 'not before its delay, rounded up to a second');
    await assert.rejects(withChannel((ch) => ch.checkQueue(`${queue}.retry.700`)), /NOT_FOUND/, 'no queue per delay any more');
    // a delay that came out at 0 is a plain publish, not an error
    await publisher.publish(queue, { now: true }, { delayMs: 0, messageId: 'at-once' });
    assert.deepEqual((await drain(queue)).map((m) => m.properties.messageId), ['at-once']);
    assert.equal(message?.properties.messageId, 'delayed');
    await assert.rejects(publisher.publish(uniqueQueue('nowhere'), {}, { delayMs: 100 }), (error: { code?: string }) => error.code === ErrorCode.PUBLISH_UNROUTABLE);
  });

  it('a publish while its connection is being cut is sent again on a new connection, not lost', async () => {
    const queue = uniqueQueue('outage');
    queues.push(queue);
    await declareQueue(queue);
    const own = new Publisher({ publishTimeoutMs: 20_000 });
    await own.publish(queue, { n: 0 });
    assert.ok(closeConnectionsOfPid(process.pid) >= 1, 'the publisher connections closed by the broker');
    await own.publish(queue, { n: 1 }, { messageId: 'after-outage' });
    await own.close();
    const ids = (await drain(queue)).map((m) => m.properties.messageId);
    assert.equal(ids.length, 2);
    assert.equal(ids[1], 'after-outage');
  });

  it('rabbit-worker publish: prints the id; a missing queue or bad JSON is one line and a non-zero exit', async () => {
    const queue = uniqueQueue('cli');
    queues.push(queue);
    await declareQueue(queue);
    const ok = cli(['publish', queue, '{"n":1}', '--message-id', 'cli-1']);
    assert.equal((await ok.exit()).code, 0);
    assert.equal(ok.stdout.trim(), 'cli-1');
    assert.equal((await drain(queue))[0]?.properties.messageId, 'cli-1');

    const missing = cli(['publish', uniqueQueue('nope'), '{}']);
    assert.equal((await missing.exit()).code, 1);
    assert.match(missing.stderr, /^rabbit-worker: queue ".*" does not exist: the message was not delivered\n$/);

    const bad = cli(['publish', queue, '{nope']);
    assert.equal((await bad.exit()).code, 2);
    assert.match(bad.stderr, /^rabbit-worker: <json> is not valid JSON/);
  });
});
