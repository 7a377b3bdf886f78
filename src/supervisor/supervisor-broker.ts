import type { ChannelModel } from 'amqplib';
import { connectTo, describeConnectError } from '../broker/connection.js';
import { sleep } from '../clock.js';
import type { Logger } from '../log/logger.js';

/** Pause after a failed connection, doubled up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

export interface SupervisorBrokerOptions {
  /** Every node of the broker (failover in rotation). */
  urls: string[];
  logger: Logger;
}

/**
 * The supervisor's own connection to RabbitMQ, for what only it does: queue depths, heartbeats between
 * supervisors, the dashboard's dead letters. One connection, opened when first needed, failing over
 * through every URL (`connectTo`) and opened again after a loss, with backoff, while someone still needs
 * it. The workers never depend on it: a broker outage only makes the supervisor's figures unknown.
 */
export class SupervisorBroker {
  readonly #options: SupervisorBrokerOptions;
  readonly #stop = new AbortController();
  readonly #listeners = new Set<(connection: ChannelModel) => void>();
  #connection: ChannelModel | undefined;
  #connecting: Promise<ChannelModel> | undefined;
  #index: number | undefined;
  #retryMs = FIRST_RETRY_MS;
  #warned = false;

  constructor(options: SupervisorBrokerOptions) {
    this.#options = options;
  }

  /** True while the connection is open. */
  get connected(): boolean {
    return this.#connection !== undefined;
  }

  /** The open connection; connects first when there is none (one attempt over every URL). */
  connection(): Promise<ChannelModel> {
    if (this.#connection !== undefined) return Promise.resolve(this.#connection);
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  /**
   * Calls `fn` with every connection from now on (at once if one is open): for consumers that must
   * subscribe again after a reconnection. Keeps the connection wanted: it is reopened after a loss.
   */
  onConnected(fn: (connection: ChannelModel) => void): void {
    this.#listeners.add(fn);
    if (this.#connection !== undefined) fn(this.#connection);
    else this.#keepTrying();
  }

  async close(): Promise<void> {
    this.#stop.abort(new Error('supervisor stopping'));
    const connection = this.#connection;
    this.#connection = undefined;
    await connection?.close().catch(() => {});
  }

  async #connect(): Promise<ChannelModel> {
    if (this.#stop.signal.aborted) throw new Error('the supervisor is stopping');
    const { connection, index } = await connectTo({
      urls: this.#options.urls,
      attempts: 1,
      name: `rabbit-worker supervisor pid ${process.pid}`,
      signal: this.#stop.signal,
      ...(this.#index !== undefined ? { startAfter: this.#index } : {}),
    });
    this.#index = index;
    this.#connection = connection;
    this.#retryMs = FIRST_RETRY_MS;
    if (this.#warned) this.#options.logger.info('supervisor connected to RabbitMQ again');
    this.#warned = false;
    connection.on('error', () => {}); // 'close' carries the news
    connection.on('close', () => {
      if (this.#connection !== connection) return;
      this.#connection = undefined;
      if (this.#stop.signal.aborted) return;
      this.#options.logger.warn('the supervisor lost its connection to RabbitMQ; queue depths and other hosts are unknown until it is back');
      this.#warned = true;
      this.#keepTrying();
    });
    for (const listener of this.#listeners) listener(connection);
    return connection;
  }

  /** Connects again, with backoff, until it works or the supervisor stops. */
  #keepTrying(): void {
    if (this.#connection !== undefined || this.#connecting !== undefined || this.#stop.signal.aborted) return;
    void this.connection().catch(async (error: unknown) => {
      if (this.#stop.signal.aborted) return;
      if (!this.#warned) this.#options.logger.warn(`the supervisor cannot reach RabbitMQ (${describeConnectError((error as { cause?: unknown }).cause ?? error)}); retrying`);
      this.#warned = true;
      const wait = this.#retryMs;
      this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
      await sleep(wait, this.#stop.signal).then(
        () => this.#keepTrying(),
        () => {},
      );
    });
  }
}
