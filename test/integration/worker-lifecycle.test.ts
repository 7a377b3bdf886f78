import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { declareQueue, depth, eventually, publish, withChannel } from '../helpers/broker.js';
import { consuming, fixture, runWorker } from '../helpers/process.js';
import { testScope } from '../helpers/scope.js';

const WORKER = fixture('behave-worker.ts');

describe('worker lifecycle: recycling, configuration, broker', () => {
  const { queue, track } = testScope();

  it('TTL reached mid-stream: stops taking messages, finishes those in flight, exits 0; a second worker handles the rest, nothing lost', async () => {
    const q = queue('ttl');
    await declareQueue(q);
    const total = 60;
    for (let i = 0; i < total; i++) await publish(q, { do: 'sleep', ms: 200 }, { messageId: `m-${i}` });
    const first = track(runWorker(WORKER, ['--ttl', '1', '--prefetch', '5'], { QUEUE: q }));
    const { code } = await first.exit(30_000);
    assert.equal(code, 0);
    const stopped = first.lines.find((l) => l.cause === 'ttl');
    assert.ok(stopped, 'stopped for its TTL');
    const handledFirst = new Set(first.messages('handled').map((l) => l.messageId));
    assert.ok(handledFirst.size > 0 && handledFirst.size < total, `the first worker handled part of the stream (${handledFirst.size})`);
    // every callback the first worker started, it finished
    assert.equal(first.messages('callback').length, handledFirst.size);
    const second = track(runWorker(WORKER, ['--max-messages', String(total - handledFirst.size)], { QUEUE: q }));
    assert.equal((await second.exit(60_000)).code, 0);
    const handledSecond = new Set(second.messages('handled').map((l) => l.messageId));
    const all = new Set([...handledFirst, ...handledSecond]);
    assert.equal(all.size, total, 'every message handled');
    assert.equal([...handledFirst].filter((id) => handledSecond.has(id)).length, 0, 'no duplicates: the first worker acked what it handled');
    assert.equal(await depth(q), 0);
  });

  it('maxMessages: recycles after that many messages, exit 0, the rest stay queued', async () => {
    const q = queue('max');
    await declareQueue(q);
    for (let i = 0; i < 5; i++) await publish(q, { do: 'ack' }, { messageId: `m-${i}` });
    const worker = track(runWorker(WORKER, ['--max-messages', '3'], { QUEUE: q }));
    assert.equal((await worker.exit()).code, 0);
    assert.equal(worker.messages('handled').length, 3);
    assert.ok(worker.lines.some((l) => l.cause === 'max-messages'));
    assert.equal(await depth(q), 2);
  });

  it('memoryLimitMb: a callback that keeps Buffers outside the heap gets the process recycled, exit 0', async () => {
    const q = queue('mem');
    const worker = track(runWorker(WORKER, ['--memory-limit-mb', '64'], { QUEUE: q }));
    await consuming(worker);
    for (let i = 0; i < 8; i++) await publish(q, { do: 'retain', ms: 16 }, { messageId: `m-${i}` });
    const { code } = await worker.exit(30_000);
    assert.equal(code, 0);
    assert.ok(worker.lines.some((l) => l.cause === 'memory'), 'stopped for memory');
    const handled = worker.messages('handled').length;
    assert.equal(handled + (await depth(q)), 8, 'handled or still queued: nothing lost');
  });

  it('12.7: isolation none says what it gives up, and recycles on heap growth between messages (before V8 aborts)', async () => {
    const q = queue('mem-none');
    const worker = track(runWorker(WORKER, ['--isolation', 'none', '--memory-limit-mb', '96'], { QUEUE: q }));
    await consuming(worker);
    await worker.waitFor((l) => /^isolation none: callbacks run on the main thread, without a heap limit of their own: memoryLimitMb \(96\) is checked between messages/.test(String(l.msg)), 10_000, 'what isolation none gives up');
    for (let i = 0; i < 12; i++) await publish(q, { do: 'retain-heap', ms: 16 }, { messageId: `h-${i}` });
    const { code, signal } = await worker.exit(30_000);
    assert.deepEqual([code, signal], [0, null], 'recycled cleanly, not aborted');
    assert.ok(worker.lines.some((l) => l.cause === 'memory'), 'stopped for memory');
    assert.ok(worker.messages('handled').length < 12, 'before the heap grew without bound');
    assert.equal(worker.messages('handled').length + (await depth(q)), 12, 'handled or still queued: nothing lost');
  });

  it('bad settings stop before connecting, with one line naming the problem and exit code 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[fixture('bad/no-queue.ts')], /no queue configured/],
      [[fixture('bad/negative-ttl.ts')], /ttl: .*>=0/],
      [[WORKER, '--isolation', 'process'], /isolation: .*"thread"\|"none"/],
      [[WORKER, '--prefetch', 'many'], /--prefetch: expected a number, got "many"/],
      // checked before an isolate starts with it (it used to die loading: exit 1)
      [[WORKER, '--memory-limit-mb', '1'], /memoryLimitMb: Too small/],
      [[fixture('bad/no-default.ts')], /has no WorkerTask default export/],
      [[fixture('bad/missing.ts')], /worker file not found/],
    ];
    for (const [args, pattern] of cases) {
      // a broker URL that nothing listens on: a configuration error must come before any connection
      const p = track(runWorker(args[0] as string, args.slice(1), { QUEUE: 'never', AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' }));
      const { code } = await p.exit();
      assert.equal(code, 2, `exit code 2 for ${args.join(' ')}: ${p.stdout}${p.stderr}`);
      // a log line from the worker, or the CLI's own line on stderr: one line either way
      const errors = [...p.lines.filter((l) => l.level === 'error').map((l) => String(l.msg)), ...p.stderr.split('\n').filter(Boolean)];
      assert.equal(errors.length, 1, `one error line for ${args.join(' ')}: ${errors.join(' | ')}`);
      assert.match(String(errors[0]), pattern);
      assert.ok(!p.stdout.includes('connect'), 'no connection attempted');
    }
  });

  it('an unreachable broker: a clear error with the password redacted, retries with backoff, then exit code 3', async () => {
    const p = track(runWorker(WORKER, ['--connect-attempts', '3'], { QUEUE: 'never', AMQP_URL: 'amqp://app:s3cret@127.0.0.1:1' }));
    const { code } = await p.exit();
    assert.equal(code, 3);
    assert.ok(!p.stdout.includes('s3cret') && !p.stderr.includes('s3cret'), 'password never printed');
    // every attempt names the URL it tried; rounds are separated by a backoff
    assert.equal(p.lines.filter((l) => l.level === 'warn' && String(l.msg) === 'cannot connect to RabbitMQ at amqp://app:***@127.0.0.1:1: ECONNREFUSED').length, 3);
    assert.equal(p.lines.filter((l) => l.level === 'warn' && /next round in \d+ ms/.test(String(l.msg))).length, 2);
    const error = p.lines.find((l) => l.level === 'error');
    assert.match(String(error?.msg), /RabbitMQ is not reachable at amqp:\/\/app:\*\*\*@127\.0\.0\.1:1.*rabbitmq-server -detached.*ECONNREFUSED after 3 round\(s\)/);
  });

  it('--ready-within: a worker still connecting (a broker that accepts and never answers) exits 1 near the limit, counted from its start, saying where it was; one that consumes in time keeps running', async () => {
    // a "broker" that takes the connection and never says a word: the connect hangs until its own timeout
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      const late = track(runWorker(WORKER, ['--connect-attempts', '50', '--ready-within', '3'], { QUEUE: 'never', AMQP_URL: `amqp://guest:s3cret@127.0.0.1:${port}` }));
      const { code } = await late.exit();
      const elapsed = Date.now() - started;
      assert.equal(code, 1);
      // from the spawn, as supervisord counts startsecs: not 3 s after the worker began to connect, and no
      // lingering behind a pending connect (seen: 5.5 s for --ready-within 3)
      assert.ok(elapsed >= 2900 && elapsed < 5000, `exited ${elapsed} ms after the spawn`);
      const line = late.lines.find((l) => l.level === 'error' && /^not consuming 3s after start \(--ready-within\)/.test(String(l.msg)));
      assert.ok(line !== undefined, 'says why');
      assert.match(String(line.msg), new RegExp(`still connecting \\(RabbitMQ at amqp://guest:\\*\\*\\*@127\\.0\\.0\\.1:${port}\\)`), 'says where it was, password redacted');
      assert.ok(!late.stdout.includes('s3cret'));
    } finally {
      silent.close();
    }

    const empty = track(runWorker(WORKER, ['--ready-within', ''], { QUEUE: 'never' }));
    assert.equal((await empty.exit()).code, 2, 'an empty value is not a silent 0');

    const name = queue('ready-within');
    const spawned = Date.now();
    const inTime = track(runWorker(WORKER, ['--ready-within', '5'], { QUEUE: name }));
    await consuming(inTime);
    // past its limit, counted from the spawn: nothing must happen now
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, spawned + 5500 - Date.now())));
    assert.equal(inTime.child.exitCode, null, 'still running past --ready-within');
    inTime.kill('SIGTERM');
    assert.equal((await inTime.exit()).code, 0);
  });

  it('bad credentials: "credentials refused for user X on vhost Y", exit code 2 (retrying cannot help), never "start a local broker"', async () => {
    const p = track(runWorker(WORKER, ['--connect-attempts', '5'], { QUEUE: 'never', AMQP_URL: 'amqp://guest:wr@ng@127.0.0.1:5672/' }));
    assert.equal((await p.exit()).code, 2);
    const error = p.lines.find((l) => l.level === 'error');
    assert.equal(error?.code, 'BROKER_ACCESS_REFUSED');
    assert.match(String(error?.msg), /^credentials refused for user "guest" on vhost "\/" at 127\.0\.0\.1:5672 \(ACCESS_REFUSED\)/);
    assert.doesNotMatch(p.stdout, /rabbitmq-server -detached|wr@ng|ng@127/, 'neither the wrong hint nor any part of the password');
    assert.equal(p.lines.filter((l) => /cannot connect/.test(String(l.msg))).length, 0, 'no retries');
    // a vhost that does not exist (or that the user may not use): the same, at once, exit 2
    const vhost = track(runWorker(WORKER, ['--connect-attempts', '5'], { QUEUE: 'never', AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672/no-such-vhost' }));
    assert.equal((await vhost.exit()).code, 2);
    const refused = vhost.lines.find((l) => l.level === 'error');
    assert.equal(refused?.code, 'BROKER_ACCESS_REFUSED');
    assert.match(String(refused?.msg), /^access refused for user "guest" on vhost "no-such-vhost" at 127\.0\.0\.1:5672 \(NOT_ALLOWED\)/);
  });

  it('a queue that exists with other arguments: an error naming the difference, exit code 2', async () => {
    const q = queue('mismatch');
    await withChannel((ch) => ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'classic' } }));
    const p = track(runWorker(WORKER, [], { QUEUE: q }));
    assert.equal((await p.exit()).code, 2);
    const error = p.lines.find((l) => l.level === 'error');
    assert.match(String(error?.msg), new RegExp(`queue "${q}" already exists with other arguments \\(inequivalent arg`));
  });

  it('a consumer cancelled by the broker (queue deleted) declares the queue again and keeps consuming', async () => {
    const q = queue('cancel');
    const worker = track(runWorker(WORKER, [], { QUEUE: q }));
    await consuming(worker);
    await withChannel((ch) => ch.deleteQueue(q));
    await worker.waitFor((l) => l.code === 'CONSUMER_LOST', 20_000, 'the cancel noticed');
    await eventually(async () => withChannel(async (ch) => (await ch.checkQueue(q)).consumerCount === 1).catch(() => false), 20_000, 'consuming the new queue', worker);
    await publish(q, { do: 'ack' }, { messageId: 'after-delete' });
    await worker.waitFor((l) => l.msg === 'handled' && l.messageId === 'after-delete');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });
});
