import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';

export type QueueType = 'quorum' | 'classic';

/** About 100 bytes of JSON, like a typical job reference; `extra` carries e.g. the latency stamp. */
export function benchBody(id: number, extra: Record<string, string> = {}): Buffer {
  const base = { id, type: 'bench.job', ...extra, pad: '' };
  const size = Buffer.byteLength(JSON.stringify(base));
  base.pad = 'x'.repeat(Math.max(0, 100 - size));
  return Buffer.from(JSON.stringify(base));
}

/** The properties rabbit-worker's Publisher sets, so every system receives the very same messages. */
export function benchProperties(): amqp.Options.Publish {
  return { persistent: true, contentType: 'application/json', messageId: randomUUID(), timestamp: Math.floor(Date.now() / 1000), headers: {} };
}

/**
 * The driver's own connection: declares, fills, counts and deletes the bench queues. Publishing is
 * untimed. Every queue it creates is remembered until deleted, so a failed run still cleans up.
 */
export class BrokerAdmin {
  readonly #connection: ChannelModel;
  readonly #channel: ConfirmChannel;
  readonly #created = new Set<string>();
  /** Every queue name this run created, deleted or not: rabbit-worker adds `<queue>.retry.<ms>` beside it. */
  readonly #everCreated = new Set<string>();
  #counter = 0;

  private constructor(connection: ChannelModel, channel: ConfirmChannel) {
    this.#connection = connection;
    this.#channel = channel;
  }

  static async open(url: string): Promise<BrokerAdmin> {
    const connection = await amqp.connect(url, { clientProperties: { connection_name: 'rabbit-worker bench driver' } });
    connection.on('error', () => {});
    const channel = await connection.createConfirmChannel();
    return new BrokerAdmin(connection, channel);
  }

  /**
   * A fresh durable queue of `type` with exactly the arguments rabbit-worker declares (dead-letter to
   * `<queue>.dlq`), so that its worker accepts it and every system drains an identical queue.
   */
  async createQueue(type: QueueType, label: string): Promise<string> {
    const name = `bench-${label}-${type}-${process.pid}-${++this.#counter}-${randomUUID().slice(0, 8)}`;
    this.#created.add(name);
    this.#everCreated.add(name);
    await this.#channel.assertQueue(`${name}.dlq`, { durable: true, arguments: { 'x-queue-type': type } });
    await this.#channel.assertQueue(name, {
      durable: true,
      arguments: { 'x-queue-type': type, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${name}.dlq` },
    });
    return name;
  }

  /** Publishes `count` persistent messages and waits for the broker's confirms (windowed, not timed). */
  async fill(queue: string, count: number): Promise<void> {
    const window = 2000;
    for (let sent = 0; sent < count; ) {
      const end = Math.min(count, sent + window);
      for (; sent < end; sent++) {
        if (!this.#channel.publish('', queue, benchBody(sent), benchProperties())) {
          await new Promise((resolve) => this.#channel.once('drain', resolve));
        }
      }
      await this.#channel.waitForConfirms();
    }
  }

  /** Publishes one message without waiting; for the fixed-rate latency publisher. */
  publish(queue: string, body: Buffer): boolean {
    return this.#channel.publish('', queue, body, benchProperties());
  }

  async waitForConfirms(): Promise<void> {
    await this.#channel.waitForConfirms();
  }

  /** Ready plus unacked would need the management API; ready is enough after the consumer exited. */
  async readyCount(queue: string): Promise<number> {
    return (await this.#channel.checkQueue(queue)).messageCount;
  }

  async deleteQueue(name: string): Promise<void> {
    await this.#channel.deleteQueue(name);
    await this.#channel.deleteQueue(`${name}.dlq`);
    this.#created.delete(name);
  }

  /**
   * Deletes every queue not yet deleted (after a failure), then every queue that a consumer declared beside
   * ours (rabbit-worker's `<queue>.retry.<ms>`), found by name through rabbitmqctl; then closes.
   */
  async close(): Promise<void> {
    for (const name of [...this.#created]) await this.deleteQueue(name).catch(() => {});
    for (const name of this.#siblings()) await this.#channel.deleteQueue(name).catch(() => {});
    await this.#connection.close().catch(() => {});
  }

  #siblings(): string[] {
    if (this.#everCreated.size === 0) return [];
    let listing: string;
    try {
      listing = execFileSync('rabbitmqctl', ['-q', 'list_queues', 'name', '--no-table-headers'], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      process.stderr.write('bench: rabbitmqctl unavailable; queues named <bench queue>.retry.* may be left behind\n');
      return [];
    }
    return listing
      .split('\n')
      .map((line) => line.trim())
      .filter((name) => name.length > 0 && [...this.#everCreated].some((base) => name.startsWith(`${base}.`)));
  }
}
