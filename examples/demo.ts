/**
 * The main job, end to end (`npm run demo`): the process manager starts two worker types (2 resize-image
 * processes, 1 send-email process) on queues of their own; an application publishes work; the workers
 * handle it; bad messages land in the dead-letter queues with their reason; `rabbit-worker status` shows
 * the processes; SIGTERM stops everything gracefully. Nothing is left behind on the broker.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { Publisher } from 'rabbit-worker';

const BIN = fileURLToPath(new URL('../bin/rabbit-worker.js', import.meta.url));
const WORKERS = fileURLToPath(new URL('./workers/', import.meta.url));
const URL_ = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const redacted = URL_.replace(/^(amqps?:\/\/[^:/@]*:)[^@]*@/, '$1***@');
const RESIZES = 20;
const EMAILS = 20;

const say = (text: string): void => void process.stdout.write(`${text}\n`);
const time = (): string => new Date().toISOString().slice(11, 23);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function main(): Promise<number> {
  // 1. Is there a broker? Say where we looked and how to start one, at once.
  const admin = await amqp.connect(URL_).catch((error: Error) => {
    say(`RabbitMQ is not reachable at ${redacted} (${(error as { code?: string }).code ?? error.message}).`);
    say('Start a local broker with "rabbitmq-server -detached" (Debian package rabbitmq-server), or set AMQP_URL.');
    return undefined;
  });
  if (admin === undefined) return 3;

  const run = randomBytes(3).toString('hex');
  const queues = { resize: `demo-${run}-resize-image`, email: `demo-${run}-send-email` };
  const dir = mkdtempSync(join(tmpdir(), 'rabbit-worker-demo-'));
  const port = await freePort();
  const config = join(dir, 'rabbit-worker.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      workers: {
        'resize-image': { file: join(WORKERS, 'resize-image.ts'), processes: 2, queue: queues.resize, env: { OUTPUT_DIR: join(dir, 'thumbnails') } },
        'send-email': { file: join(WORKERS, 'send-email.ts'), processes: 1, queue: queues.email, env: { OUTBOX_DIR: join(dir, 'outbox') } },
      },
      control: { port },
    }),
  );

  say(`rabbit-worker demo — broker ${redacted}, queues ${queues.resize} and ${queues.email}`);
  say(`$ rabbit-worker supervise ${config}`);
  const supervisor = spawn(process.execPath, [BIN, 'supervise', config], { env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const handled = new Map<string, number>();
  const dead: string[] = [];
  let consuming = 0;
  let wake = (): void => {};
  createInterface({ input: supervisor.stdout }).on('line', (line) => {
    let l: Record<string, unknown>;
    try {
      l = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return say(line);
    }
    const proc = String(l.proc ?? 'supervisor').padEnd(15);
    const msg = String(l.msg ?? '');
    if (msg.startsWith('consuming ')) {
      consuming++;
      say(`${time()} ${proc} ${msg}`);
    } else if (msg === 'thumbnail written') {
      handled.set(String(l.proc), (handled.get(String(l.proc)) ?? 0) + 1);
      say(`${time()} ${proc} ✓ ${String(l.imageId)} → ${String(l.size)} thumbnail in ${String(l.ms)} ms`);
    } else if (msg === 'email sent') {
      handled.set(String(l.proc), (handled.get(String(l.proc)) ?? 0) + 1);
      say(`${time()} ${proc} ✓ email to ${String(l.to)}`);
    } else if (msg.startsWith('message dead-lettered')) {
      dead.push(msg);
      say(`${time()} ${proc} ✗ ${msg}`);
    }
    else if (l.level === 'critical' || l.level === 'error' || /^(stopp|supervising|stopped)/.test(msg)) say(`${time()} ${proc} ${msg}`);
    wake();
  });
  const until = async (check: () => boolean, what: string, ms = 90_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline || supervisor.exitCode !== null) throw new Error(`gave up waiting for ${what}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 250);
      });
    }
  };

  let code = 0;
  const publisher = new Publisher({ url: URL_ });
  try {
    await until(() => consuming === 3, '3 processes consuming');
    say(`\n${time()} application   publishing ${RESIZES} resize requests, ${EMAILS} emails and 3 bad messages`);
    for (let i = 1; i <= Math.max(RESIZES, EMAILS); i++) {
      if (i <= RESIZES) await publisher.publish(queues.resize, { imageId: `photo-${i}`, width: 64 + 8 * i, height: 48 + 6 * i });
      if (i <= EMAILS) await publisher.publish(queues.email, { to: `user${i}@example.com`, subject: `Photo ${i} is ready`, text: 'Your thumbnail is ready.' });
    }
    await publisher.publish(queues.resize, Buffer.from('{"imageId": "photo-x", "width": '), { messageId: 'malformed-json' });
    await publisher.publish(queues.resize, { imageId: 'photo-0', width: 0, height: 10 }, { messageId: 'zero-width' });
    await publisher.publish(queues.email, { to: 'not-an-address', subject: 'hi', text: '' }, { messageId: 'bad-address' });
    await until(() => [...handled.values()].reduce((a, b) => a + b, 0) === RESIZES + EMAILS && dead.length === 3, 'every message handled or dead-lettered');

    say(`\n$ rabbit-worker status ${config}`);
    await new Promise<void>((resolve) => spawn(process.execPath, [BIN, 'status', config], { stdio: 'inherit' }).on('exit', () => resolve()));

    const channel = await admin.createChannel();
    const inDlq = (await channel.checkQueue(`${queues.resize}.dlq`)).messageCount + (await channel.checkQueue(`${queues.email}.dlq`)).messageCount;
    await channel.close();
    say('\nSummary');
    for (const [proc, n] of [...handled.entries()].sort()) say(`  ${proc.padEnd(16)} handled ${n}`);
    say(`  dead-lettered    ${inDlq} (each with its reason in x-rabbit-worker-reason)`);
    say(`  files written    ${readdirSync(join(dir, 'thumbnails')).length} thumbnails, ${readdirSync(join(dir, 'outbox')).length} emails in ${dir}`);
  } catch (error) {
    say(`demo failed: ${(error as Error).message}`);
    code = 1;
  } finally {
    await publisher.close();
    say(`\n${time()} application   SIGTERM to the supervisor`);
    supervisor.kill('SIGTERM');
    await new Promise((resolve) => (supervisor.exitCode !== null ? resolve(null) : supervisor.on('exit', resolve)));
    const channel = await admin.createChannel();
    for (const q of [queues.resize, queues.email]) for (const name of [q, `${q}.dlq`]) await channel.deleteQueue(name).catch(() => {});
    await admin.close();
    if (code === 0) rmSync(dir, { recursive: true, force: true });
  }
  say(code === 0 ? 'demo finished: every message was handled or dead-lettered with its reason; nothing lost.' : 'demo failed');
  return code;
}

process.exitCode = await main();
