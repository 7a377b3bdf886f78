import type { ChannelModel } from 'amqplib';
import { connect, describeConnectError, sleep, type ConnectOptions } from '../broker/connection.js';
import { RetryQueues } from '../broker/retry-queues.js';
import { BrokerSession } from '../broker/session.js';
import { declareWorkQueue } from '../broker/topology.js';
import { ErrorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Consumer } from './consumer.js';
import type { WorkerSettings } from './options.js';

/** Reconnection attempts after a connection loss (backoff up to 10 s each: about five minutes). */
export const RECONNECT_ATTEMPTS = 30;
/** Server-sent cancels repaired within this window before the worker gives up. */
const CANCEL_WINDOW_MS = 60_000;
const MAX_CANCELS = 3;

export interface BrokerLinkOptions {
  connect: Omit<ConnectOptions, 'logger' | 'name' | 'signal'>;
  settings: WorkerSettings;
  name: string;
  logger: Logger;
  consumer: Consumer;
  /** The link cannot be repaired: stop with this cause. */
  onGiveUp: (cause: 'broker-lost' | 'consumer-cancelled') => void;
  /** Connection lost (true) or consuming again (false). */
  onReconnecting: (reconnecting: boolean) => void;
}

/**
 * The worker's side of the broker: connection, topology, session, consumer. Keeps consuming through
 * outages: after a connection loss it reconnects with backoff and jitter (trying each cluster URL in
 * turn), declares the queues again and resumes; a consumer cancelled by the broker (queue deleted) is
 * declared and subscribed again; a channel closed under it is reopened. Tags never cross channels: each
 * session settles only its own deliveries.
 */
export class BrokerLink {
  readonly #options: BrokerLinkOptions;
  readonly #abort = new AbortController();
  #connection: ChannelModel | undefined;
  #session: BrokerSession | undefined;
  #closing = false;
  #repairing: Promise<void> | undefined;
  #cancels: number[] = [];

  constructor(options: BrokerLinkOptions) {
    this.#options = options;
  }

  /** The first connection: errors propagate (unreachable → exit 3, queue mismatch → exit 2). */
  async open(): Promise<void> {
    await this.#connectAndConsume(this.#options.connect.attempts ?? 5);
  }

  /** Stops deliveries; in-flight ones stay ours to settle. */
  async cancel(): Promise<void> {
    await this.#session?.cancel();
  }

  /** Ends reconnection attempts, then closes channel and connection. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#abort.abort(new Error('worker stopping'));
    await this.#repairing?.catch(() => {});
    await this.#session?.close();
    await this.#connection?.close().catch(() => {});
  }

  async #connectAndConsume(attempts: number): Promise<void> {
    const { settings, logger, name } = this.#options;
    const connection = await connect({ ...this.#options.connect, attempts, logger, name: `rabbit-worker ${name} pid ${process.pid}`, signal: this.#abort.signal });
    this.#connection = connection;
    connection.on('error', () => {}); // 'close' carries the news
    connection.on('close', (error?: Error) => this.#lost(connection, error));
    try {
      await declareWorkQueue(connection, settings.queue, settings.queueType);
      const retryQueues = new RetryQueues(connection, settings.queue, settings.queueType);
      // Retry queues are declared on first use: a queue whose callbacks never fail gets none (each quorum
      // queue costs the broker a Raft group).
      await this.#subscribe(connection, retryQueues);
    } catch (error) {
      this.#connection = undefined; // its close is ours, not a loss
      await connection.close().catch(() => {});
      throw error;
    }
  }

  async #subscribe(connection: ChannelModel, retryQueues: RetryQueues): Promise<void> {
    const { settings, logger, consumer } = this.#options;
    const session = await BrokerSession.open(connection, settings.prefetch);
    this.#session = session;
    session.channel.on('error', (error: Error) => logger.error(`channel error: ${error.message}`));
    session.channel.on('close', () => {
      // the channel alone closed (a protocol error): reopen it on the same connection
      if (this.#closing || this.#connection !== connection || this.#session !== session) return;
      setImmediate(() => {
        if (connection === this.#connection && !this.#closing && this.#repairing === undefined) {
          logger.warn('channel closed under the consumer; opening a new one');
          this.#repair(() => this.#subscribe(connection, retryQueues));
        }
      });
    });
    await consumer.start(session, retryQueues, () => this.#cancelled(connection, retryQueues));
  }

  #cancelled(connection: ChannelModel, retryQueues: RetryQueues): void {
    const { settings, logger } = this.#options;
    const now = Date.now();
    this.#cancels = [...this.#cancels.filter((t) => now - t < CANCEL_WINDOW_MS), now];
    if (this.#cancels.length > MAX_CANCELS) {
      logger.error(`RabbitMQ cancelled the consumer ${this.#cancels.length} times in a minute; exiting for the process manager to restart`, { code: ErrorCode.CONSUMER_LOST });
      this.#options.onGiveUp('consumer-cancelled');
      return;
    }
    logger.warn('RabbitMQ cancelled the consumer (queue deleted?); declaring the queue and consuming again', { code: ErrorCode.CONSUMER_LOST });
    this.#repair(async () => {
      const old = this.#session;
      await declareWorkQueue(connection, settings.queue, settings.queueType);
      await this.#subscribe(connection, retryQueues);
      await old?.channel.close().catch(() => {});
    });
  }

  #lost(connection: ChannelModel, error?: Error): void {
    if (this.#closing || connection !== this.#connection) return;
    const { logger, consumer } = this.#options;
    logger.error(`connection to RabbitMQ lost${error ? `: ${error.message}` : ''}; reconnecting (unacked messages are requeued by the broker)`);
    this.#connection = undefined;
    consumer.connectionLost();
    this.#options.onReconnecting(true);
    this.#repair(async () => {
      await this.#reconnect();
      logger.info('reconnected; consuming again');
      this.#options.onReconnecting(false);
    }, 'broker-lost');
  }

  /** Tries again and again — connect, declare, consume — with backoff and jitter, each URL in turn. */
  async #reconnect(): Promise<void> {
    let delay = 500;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#connectAndConsume(1);
        return;
      } catch (error) {
        if (this.#closing || attempt >= RECONNECT_ATTEMPTS || (error as { code?: unknown }).code === ErrorCode.TOPOLOGY_MISMATCH) throw error;
        const wait = Math.round(delay * (0.5 + Math.random() * 0.5));
        this.#options.logger.warn(`reconnection attempt ${attempt} failed: ${describeConnectError((error as { cause?: unknown }).cause ?? error)}; next in ${wait} ms`);
        await sleep(wait, this.#abort.signal);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  #repair(work: () => Promise<void>, giveUpAs: 'broker-lost' | 'consumer-cancelled' = 'consumer-cancelled'): void {
    if (this.#repairing !== undefined) return;
    this.#repairing = work()
      .catch((error: unknown) => {
        if (this.#closing) return;
        this.#options.logger.error(`cannot repair the broker link: ${(error as Error).message}`);
        this.#options.onGiveUp(giveUpAs);
      })
      .finally(() => {
        this.#repairing = undefined;
      });
  }
}
