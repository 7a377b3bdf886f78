import { randomBytes } from 'node:crypto';
import amqp, { type ChannelModel, type GetMessage } from 'amqplib';

export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

let shared: Promise<ChannelModel> | undefined;

/** One connection for a test file's own inspection of the broker. */
export function connection(): Promise<ChannelModel> {
  shared ??= amqp.connect(AMQP_URL).catch((error: unknown) => {
    shared = undefined;
    throw new Error(`tests need RabbitMQ at ${AMQP_URL.replace(/:[^:@/]*@/, ':***@')} (start it with "rabbitmq-server -detached"): ${(error as Error).message}`);
  });
  return shared;
}

export async function closeConnection(): Promise<void> {
  const c = shared;
  shared = undefined;
  if (c) await (await c).close().catch(() => {});
}

/** A queue name no other test uses. */
export function uniqueQueue(prefix = 'test'): string {
  return `rw-${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Runs `fn` on a fresh channel, closed afterwards (a failed declaration closes its channel). */
export async function withChannel<T>(fn: (channel: amqp.ConfirmChannel) => Promise<T>): Promise<T> {
  const channel = await (await connection()).createConfirmChannel();
  channel.on('error', () => {});
  try {
    return await fn(channel);
  } finally {
    await channel.close().catch(() => {});
  }
}

/**
 * Deletes a work queue with its `.dlq`, and any other named queues. The delay levels
 * (`rabbit-worker.delay.*`) are shared by every queue and stay.
 */
export async function deleteQueues(...names: string[]): Promise<void> {
  for (const name of names.flatMap((n) => [n, `${n}.dlq`])) {
    await withChannel((ch) => ch.deleteQueue(name)).catch(() => {});
  }
}

/** Declares a queue the way rabbit-worker does, so tests can publish before a worker started. */
export async function declareQueue(name: string, queueType: 'quorum' | 'classic' = 'quorum'): Promise<void> {
  await withChannel(async (ch) => {
    await ch.assertQueue(`${name}.dlq`, { durable: true, arguments: { 'x-queue-type': queueType } });
    await ch.assertQueue(name, {
      durable: true,
      arguments: { 'x-queue-type': queueType, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${name}.dlq` },
    });
  });
}

/** Publishes JSON (or a raw string) persistently and waits for the confirm. */
export async function publish(queue: string, body: unknown, options: amqp.Options.Publish = {}): Promise<void> {
  await withChannel(async (ch) => {
    const content = typeof body === 'string' ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
    ch.publish('', queue, content, { persistent: true, ...options });
    await ch.waitForConfirms();
  });
}

/** Messages ready in the queue (not those unacked by a consumer). */
export async function depth(queue: string): Promise<number> {
  return withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
}

/** Takes every ready message off a queue (acking them) and returns them. */
export async function drain(queue: string): Promise<GetMessage[]> {
  return withChannel(async (ch) => {
    const out: GetMessage[] = [];
    for (;;) {
      const message = await ch.get(queue, { noAck: false });
      if (message === false) return out;
      out.push(message);
      ch.ack(message);
    }
  });
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  what = 'condition',
  context?: { stdout: string },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${context ? `; output:\n${context.stdout.slice(-6000)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
