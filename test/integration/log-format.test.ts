import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { Publisher } from '../../src/index.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { eventually } from '../helpers/broker.js';
import { freePort } from '../helpers/sup-harness.js';
import { BIN, cli, consuming, fixture, ROOT, runWorker } from '../helpers/process.js';
import { testScope } from '../helpers/scope.js';
import { resizeQueue } from '../fixtures/typed/queues.js';

const RESIZE = fixture('typed/resize-worker.ts');
/** Keys that must never appear twice on a line (pino writes bindings as text: a key bound twice is written twice). */
const ONCE = ['"queue":', '"worker":', '"pid":', '"messageId":', '"attempt":', '"logger":'];
const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe('log lines: one format per destination, bound to their message, errors with their type', () => {
  const { queue, track } = testScope();
  const publisher = new Publisher();
  after(() => publisher.close());

  it('JSON (not a terminal): callback lines carry messageId and attempt, errors their type, message and stack, each key once, also from a respawned isolate', async () => {
    const name = queue('logs');
    const resize = publisher.to(resizeQueue(name));
    const worker = track(runWorker(RESIZE, [], { QUEUE: name, MAX_ATTEMPTS: '3' }));
    await consuming(worker);
    await resize.publish({ id: 1, width: 2 }, { messageId: 'plain' });
    await resize.publish({ id: 2, width: 3, do: 'log-error' }, { messageId: 'logged-error' });
    await resize.publish({ id: 3, width: 4, do: 'flaky' }, { messageId: 'thrown' });
    await resize.publish({ id: 4, width: 5, do: 'crash' }, { messageId: 'crash' });
    await resize.publish({ id: 5, width: 6 }, { messageId: 'after-crash' });
    // retries come back in their own time: wait for all seven callbacks, in any order
    await worker.waitFor(() => worker.lines.filter((l) => l.msg === 'resizing').length >= 7, 30_000, 'seven callbacks');
    const resizing = worker.lines.filter((l) => l.msg === 'resizing').map((l) => `${String(l.messageId)}#${String(l.attempt)}`);
    assert.deepEqual(resizing.sort(), ['after-crash#1', 'crash#1', 'crash#2', 'logged-error#1', 'plain#1', 'thrown#1', 'thrown#2']);
    const logged = worker.lines.find((l) => l.msg === 'resize failed') as { err: { type: string; message: string; stack: string }; messageId: string; level: string };
    assert.equal(logged.level, 'error');
    assert.equal(logged.messageId, 'logged-error');
    assert.equal(logged.err.type, 'RangeError');
    assert.equal(logged.err.message, 'width 3 out of range');
    assert.match(logged.err.stack, /^RangeError: width 3 out of range\n\s+at .*resize-worker\.ts:\d+:\d+/);
    // the main thread's line about a callback that threw in the isolate (the error crossed as plain data)
    const failed = worker.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('callback failed') && l.messageId === 'thrown') as { err: { type: string; message: string; stack: string } };
    assert.equal(failed.err.type, 'Error');
    assert.equal(failed.err.message, 'flaky: first attempt fails');
    assert.match(failed.err.stack, /resize-worker\.ts/);
    const crashed = worker.lines.find((l) => l.level === 'critical' && /callbacks interrupted \(uncaught-exception\)/.test(String(l.msg))) as { err: { type: string; message: string } };
    assert.deepEqual([crashed.err.type, crashed.err.message], ['Error', 'crash in the isolate']);

    for (const raw of worker.stdout.split('\n').filter((line) => line.startsWith('{'))) {
      for (const key of ONCE) assert.ok(count(raw, key) <= 1, `${key} twice in ${raw}`);
      assert.ok(!raw.includes('"type":"Object"'), raw);
    }
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('LOG_FORMAT=pretty: the callback isolate writes pretty lines too', async () => {
    const name = queue('logs-pretty');
    const worker = track(runWorker(RESIZE, ['--max-messages', '1'], { QUEUE: name, LOG_FORMAT: 'pretty' }));
    await worker.waitFor((l) => typeof l.msg === 'string' && /INFO .*consuming /.test(l.msg), 30_000, 'a pretty consuming line');
    await publisher.to(resizeQueue(name)).publish({ id: 1, width: 2 }, { messageId: 'pretty-1' });
    assert.equal((await worker.exit()).code, 0);
    const line = worker.stdout.split('\n').find((l) => l.includes('resizing'));
    assert.match(line ?? '', /^\[[\d:.]+\] INFO \(\d+\): resizing \{.*"messageId":"pretty-1","attempt":1/);
    assert.ok(!worker.stdout.split('\n').some((l) => l.startsWith('{')), 'no JSON line');
  });

  it('on a terminal (no LOG_FORMAT): pretty, coloured lines from the worker and from its callbacks', async () => {
    const name = queue('logs-tty');
    // script(1) gives the worker a pseudo-terminal, as a person running it by hand has
    const command = [process.execPath, BIN, 'run', RESIZE, '--max-messages', '1', '--connect-attempts', '2'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, env: { ...process.env, QUEUE: name, LOG_FORMAT: '', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 30_000;
    while (!out.includes('consuming ') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await publisher.to(resizeQueue(name)).publish({ id: 1, width: 2 }, { messageId: 'tty-1' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    assert.equal(await exited, 0, out);
    clearTimeout(timer);
    const escape = String.fromCharCode(27);
    const plain = out.replace(new RegExp(`${escape}\\[[0-9;]*m`, 'g'), '');
    assert.ok(new RegExp(`${escape}\\[3\\dm`).test(out), 'coloured');
    assert.match(plain, /INFO \(\d+\): consuming /);
    assert.match(plain, /INFO \(\d+\): resizing \{.*"messageId":"tty-1"/, 'the callback line is pretty too');
    assert.ok(!plain.split(/\r?\n/).some((l) => l.startsWith('{"level"')), 'no JSON line');
  });

  it('LOG_FORMAT=pretty under supervise: the supervisor writes its own lines as it writes its children\'s (one format)', async () => {
    const name = queue('logs-sup');
    const dir = mkdtempSync(join(tmpdir(), 'rw-logs-sup-'));
    try {
      writeFileSync(join(dir, 'rabbit-worker.config.yaml'), stringify({ workers: { resize: { file: RESIZE, env: { QUEUE: name } } }, control: { port: await freePort() } }));
      const sup = track(cli(['supervise', dir], { LOG_FORMAT: 'pretty', LOG_LEVEL: 'info' }, { cwd: dir }));
      await eventually(() => sup.stdout.includes('resize_01 | INFO     consuming '), 60_000, 'the child consuming', sup);
      sup.kill('SIGTERM');
      assert.equal((await sup.exit(60_000)).code, 0);
      const lines = sup.stdout.split('\n').filter((l) => l.trim() !== '');
      assert.ok(lines.some((l) => l.startsWith('supervisor | INFO     supervising 1 worker type(s)')), sup.stdout);
      const odd = lines.filter((l) => !/^(supervisor|resize_01) \| [A-Z]+ +\S/.test(l));
      assert.deepEqual(odd, [], 'every line is "<name> | LEVEL message"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
