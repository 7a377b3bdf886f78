import { createInterface } from 'node:readline/promises';
import type { ChannelModel } from 'amqplib';
import type { Command } from 'commander';
import { connect } from '../broker/connection.js';
import { countDelayed, type DelayCensus } from '../broker/delay-census.js';
import { QueueProbe } from '../broker/queue-probe.js';
import { bodyOf, deadLetterDepth, listDeadLetters, purgeDeadLetters, replayDeadLetters, type DeadLetter } from '../broker/dead-letters.js';

export { bodyOf };
import { deadLetterQueueName } from '../broker/topology.js';
import { ConfigError } from '../errors.js';
import { formatCount, ProgressLine } from './progress.js';
import { connectOptionFlags, positiveInt, urlsFrom } from './shared-options.js';

type Flags = Record<string, unknown>;

/** Runs `fn` on a connection made with `--url`/`--connect-attempts` (exit 3 when nothing answers). */
async function withConnection<T>(flags: Flags, fn: (connection: ChannelModel) => Promise<T>): Promise<T> {
  const connection = await connect({
    urls: urlsFrom(flags),
    attempts: positiveInt(flags.connectAttempts, '--connect-attempts', 5),
    name: `rabbit-worker dlq pid ${process.pid}`,
  });
  connection.on('error', () => {});
  try {
    return await fn(connection);
  } finally {
    await connection.close().catch(() => {});
  }
}

const oneLine = (text: string, max: number): string => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

function describe(message: DeadLetter): string {
  const body = bodyOf(message.body);
  return [
    message.messageId ?? '(no id)',
    `attempts=${message.attempts ?? '?'}`,
    `failed-at=${message.failedAt ?? '?'}`,
    oneLine(message.reason ?? '(no reason)', 120),
    body.encoding === 'utf8' ? oneLine(body.text, 60) : `(${message.body.length} bytes, binary)`,
  ].join('  ');
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** `rabbit-worker dlq list|replay|purge <queue>`: the dead letters of a worker's queue. */
export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('inspect, replay or purge the dead letters of a queue (<queue>.dlq)');

  connectOptionFlags(
    dlq
      .command('list')
      .description('show the messages of <queue>.dlq without removing them')
      .argument('<queue>', 'the work queue (its dead letters are in <queue>.dlq)')
      .option('--limit <n>', 'at most n messages, from the head', '100')
      .option('--json', 'a JSON array with headers, properties and body'),
  ).action(async (queue: string, flags: Flags) => {
    const limit = positiveInt(flags.limit, '--limit', 100);
    const { messages, depth, delayed } = await withConnection(flags, async (c) => ({ ...(await listDeadLetters(c, queue, { limit })), delayed: await countQueued(c) }));
    if (flags.json === true) {
      const out = messages.map((m) => {
        const { text, encoding } = bodyOf(m.body);
        return { ...m, body: text, bodyEncoding: encoding };
      });
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return;
    }
    for (const message of messages) process.stdout.write(`${describe(message)}\n`);
    process.stdout.write(`${formatCount(messages.length)} of ${formatCount(depth)} dead letter(s) in "${deadLetterQueueName(queue)}", left in place\n`);
    // the levels are shared: their count covers every queue of the vhost, not only this one
    process.stdout.write(`${formatCount(delayed.total)} message(s) wait in the delay levels (retries and delayed publishes of every queue of the vhost)\n`);
    // Every list is a delivery that a quorum queue counts; some RabbitMQ versions drop a message past a delivery limit.
    const worn = messages.filter((m) => m.dlqDeliveryCount >= 10).length;
    if (worn > 0) process.stderr.write(`rabbit-worker: warning: ${worn} message(s) were listed 10 times or more; a delivery limit on "${deadLetterQueueName(queue)}" would drop them\n`);
  });

  connectOptionFlags(
    dlq
      .command('replay')
      .description('move messages from <queue>.dlq back to <queue>, with fresh attempts (acked only once the copy is confirmed)')
      .argument('<queue>', 'the work queue')
      .option('--limit <n>', 'at most n messages, from the head')
      .option('--id <messageId...>', 'only these message ids; the others stay in the dead-letter queue, in order')
      .option('--window <n>', 'unconfirmed copies in flight, at most', '500'),
  ).action(async (queue: string, flags: Flags) => {
    const limit = flags.limit === undefined ? undefined : positiveInt(flags.limit, '--limit', 1);
    const window = positiveInt(flags.window, '--window', 500);
    const ids = Array.isArray(flags.id) ? flags.id.map(String) : undefined;
    const progress = new ProgressLine(process.stderr);
    const result = await withConnection(flags, (c) =>
      replayDeadLetters(c, queue, {
        window,
        ...(limit !== undefined ? { limit } : {}),
        ...(ids !== undefined ? { ids } : {}),
        onProgress: (p) => progress.update('replayed', p.replayed, p.total),
      }),
    ).finally(() => progress.finish());
    const seconds = result.elapsedMs / 1000;
    const rate = seconds > 0 ? result.replayed / seconds : result.replayed;
    process.stdout.write(
      `replayed ${formatCount(result.replayed)} message(s) to "${queue}" in ${seconds.toFixed(1)} s (${formatCount(rate)}/s); ${formatCount(result.remaining)} left in "${deadLetterQueueName(queue)}"\n`,
    );
    if (result.missingIds.length > 0) {
      process.stderr.write(`rabbit-worker: not found in "${deadLetterQueueName(queue)}": ${result.missingIds.join(', ')}\n`);
      process.exitCode = 1;
    }
  });

  connectOptionFlags(
    dlq
      .command('purge')
      .description('delete every message of <queue>.dlq')
      .argument('<queue>', 'the work queue')
      .option('--yes', 'do not ask for confirmation (required when not on a terminal)'),
  ).action(async (queue: string, flags: Flags) => {
    const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true;
    // Refuse before connecting: a script must say --yes, it cannot answer a prompt.
    if (flags.yes !== true && !interactive) throw new ConfigError(`dlq purge deletes messages for good: pass --yes (no terminal to ask)`);
    const removed = await withConnection(flags, async (c) => {
      if (flags.yes !== true) {
        const depth = await deadLetterDepth(c, queue);
        if (!(await confirm(`delete the ${formatCount(depth)} message(s) of "${deadLetterQueueName(queue)}"? [y/N] `))) return undefined;
      }
      return purgeDeadLetters(c, queue);
    });
    if (removed === undefined) process.stdout.write('nothing purged\n');
    else process.stdout.write(`purged ${formatCount(removed)} message(s) from "${deadLetterQueueName(queue)}"\n`);
  });
}

async function countQueued(connection: ChannelModel): Promise<DelayCensus> {
  const probe = new QueueProbe(connection);
  try {
    return await countDelayed(probe);
  } finally {
    await probe.close();
  }
}
