import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resize } from '../../examples/workers/resize-image.js';
import { closeConnection, declareQueue, deleteQueues, drain, eventually, publish, uniqueQueue } from '../helpers/broker.js';
import { ROOT, runWorker, type Proc } from '../helpers/process.js';

const RESIZE = join(ROOT, 'examples/workers/resize-image.ts');
const EMAIL = join(ROOT, 'examples/workers/send-email.ts');

describe('the cookbook workers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rw-cookbook-'));
  const queues: string[] = [];
  const procs: Proc[] = [];
  after(async () => {
    procs.forEach((p) => p.kill('SIGKILL'));
    rmSync(dir, { recursive: true, force: true });
    await deleteQueues(...queues);
    await closeConnection();
  });

  it('resize() averages the source pixels each target pixel covers', () => {
    // 2×2 RGB source → 1×1: the mean of the four pixels
    const source = new Uint8Array([0, 0, 0, 100, 100, 100, 200, 200, 200, 100, 100, 100]);
    assert.deepEqual([...resize(source, 2, 1, 1)], [100, 100, 100]);
    assert.deepEqual([...resize(source, 2, 2, 2)], [...source]);
  });

  it('resize-image: writes the thumbnail, acks a duplicate without redoing it, dead-letters invalid requests with the reason', async () => {
    const queue = uniqueQueue('resize');
    queues.push(queue);
    await declareQueue(queue);
    const out = join(dir, 'thumbs');
    await publish(queue, { imageId: 'cat', width: 32, height: 24 }, { messageId: 'first' });
    await publish(queue, { imageId: 'cat', width: 32, height: 24 }, { messageId: 'again' });
    await publish(queue, { imageId: '../etc/passwd', width: 32, height: 24 }, { messageId: 'evil' });
    const worker = runWorker(RESIZE, ['--queue', queue, '--max-messages', '3', '--prefetch', '1'], { OUTPUT_DIR: out });
    procs.push(worker);
    assert.equal((await worker.exit(60_000)).code, 0, worker.stdout);

    const file = join(out, 'cat-32x24.ppm');
    assert.ok(existsSync(file));
    const ppm = readFileSync(file);
    assert.equal(ppm.subarray(0, 13).toString(), 'P6\n32 24\n255\n');
    assert.equal(ppm.length, 13 + 32 * 24 * 3);
    assert.equal(worker.messages('thumbnail written').length, 1);
    assert.equal(worker.lines.find((l) => l.msg === 'thumbnail already there; duplicate delivery acked')?.messageId, 'again');
    const dead = await drain(`${queue}.dlq`);
    assert.equal(dead.length, 1);
    assert.match(String(dead[0]?.properties.headers?.['x-rabbit-worker-reason']), /^invalid resize request: imageId: letters, digits/);
  });

  it('send-email: writes one .eml per message id; an invalid address goes to the dlq at once', async () => {
    const queue = uniqueQueue('email');
    queues.push(queue);
    await declareQueue(queue);
    const outbox = join(dir, 'outbox');
    await publish(queue, { to: 'ada@example.com', subject: 'Hello', text: 'Hi Ada' }, { messageId: 'e1' });
    await publish(queue, { to: 'nobody', subject: 'Hello', text: '' }, { messageId: 'e2' });
    const worker = runWorker(EMAIL, ['--queue', queue], { OUTBOX_DIR: outbox });
    procs.push(worker);
    await eventually(() => existsSync(join(outbox, 'e1.eml')), 30_000, 'the email file', worker);
    assert.match(readFileSync(join(outbox, 'e1.eml'), 'utf8'), /^To: ada@example\.com\nSubject: Hello\n/);
    const dead = await eventually(async () => {
      const m = await drain(`${queue}.dlq`);
      return m.length > 0 ? m : undefined;
    }, 30_000, 'the bad address in the dlq', worker);
    assert.equal(dead[0]?.properties.headers?.['x-rabbit-worker-reason'], 'invalid address "nobody"');
    assert.equal(worker.lines.filter((l) => l.msg === 'email sent').length, 1);
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });
});
