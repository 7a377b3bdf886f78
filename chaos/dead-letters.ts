import type { ChannelModel } from 'amqplib';
import { connectAny } from './connect.js';

/** A message found in a dead-letter queue. */
export interface DeadLetter {
  queue: string;
  reason: string;
  attempts: string;
  /** Copies found (a copy is published before the original is acked: a crash in between makes two). */
  copies: number;
}

const REASON = 'x-rabbit-worker-reason';
const ATTEMPTS = 'x-rabbit-worker-attempts';

/**
 * Drains the `<queue>.dlq` queues of the run and remembers what it found, numbered and poison apart.
 * Started once the faults are over (the broker is stable then), it keeps consuming until closed, so that
 * what arrives while the run waits for the last messages is seen too.
 */
export class DeadLetterReader {
  readonly numbered = new Map<number, DeadLetter>();
  readonly poison = new Map<number, DeadLetter>();
  /** Dead letters whose body was neither: listed as they are. */
  readonly unknown: Array<DeadLetter & { body: string }> = [];
  #connection: ChannelModel | undefined;
  #closed = false;

  async start(url: string, queues: string[]): Promise<void> {
    const { connection } = await connectAny(url, { name: 'chaos dead-letter reader' });
    connection.on('error', () => {});
    this.#connection = connection;
    // not awaited: a deleted .dlq keeps its reader retrying, which must not hold the run (a failure there
    // surfaces as dead letters not found, never as a silent pass)
    for (const queue of queues) this.#read(connection, queue).catch(() => {});
  }

  /**
   * Consumes `<queue>.dlq` on a channel of its own. The `delete-dlq` fault may have deleted it and no worker
   * declared it again yet (nothing was dead-lettered there since, and no reconnect): the consume is then
   * refused (404) and tried again every second until the queue exists or the reader closes.
   */
  async #read(connection: ChannelModel, queue: string): Promise<void> {
    for (;;) {
      if (this.#closed) return;
      const channel = await connection.createChannel();
      const refused = new Promise<void>((resolve) => channel.once('close', () => resolve()));
      channel.on('error', () => {});
      await channel.prefetch(500);
      try {
        await channel.consume(`${queue}.dlq`, (message) => {
          if (message === null) return;
          const headers = message.properties.headers ?? {};
          const found = { queue, reason: String(headers[REASON] ?? '(no x-rabbit-worker-reason header)'), attempts: String(headers[ATTEMPTS] ?? '?'), copies: 1 };
          this.#remember(message.content.toString('utf8'), found);
          channel.ack(message);
        });
        return;
      } catch {
        await refused;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  #remember(text: string, found: DeadLetter): void {
    let body: { n?: unknown; poison?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // listed below as it is
    }
    const into = typeof body.n === 'number' ? this.numbered : typeof body.poison === 'number' ? this.poison : undefined;
    const key = typeof body.n === 'number' ? body.n : Number(body.poison);
    if (into === undefined) {
      this.unknown.push({ ...found, body: text.slice(0, 200) });
      return;
    }
    const seen = into.get(key);
    if (seen !== undefined) seen.copies += 1;
    else into.set(key, found);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#connection?.close().catch(() => {});
  }
}
