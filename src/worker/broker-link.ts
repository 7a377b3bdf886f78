import type { ChannelModel } from 'amqplib';
import { ConfirmLink } from '../broker/confirm-link.js';
import { connectTo, describeConnectError, type ConnectOptions } from '../broker/connection.js';
import { DelayedDelivery } from '../broker/delayed-delivery.js';
import { BrokerSession } from '../broker/session.js';
import { assertWorkQueue, declareWorkQueue } from '../broker/topology.js';
import { redactUrl } from '../broker/url.js';
import { sleep, systemClock, type Clock } from '../clock.js';
import { Deadline } from '../deadline.js';
import { ErrorCode } from '../errors.js';
import { Lifecycle } from '../lifecycle.js';
import type { Logger } from '../log/logger.js';
import type { Consumer } from './consumer.js';
import { LoopLag } from './loop-lag.js';
import type { WorkerSettings } from './options.js';
import { Settler } from './settler.js';

/** Rounds over every URL after a connection loss before the worker gives up (exit 3): about five minutes. */
export const RECONNECT_ROUNDS = 30;
/** Server-sent cancels repaired within this window before the worker gives up. */
const CANCEL_WINDOW_MS = 60_000;
const MAX_CANCELS = 3;

/**
 * - `idle`: not opened yet;
 * - `connecting`: the first connection, declarations, subscription;
 * - `consuming`: deliveries flow;
 * - `repairing`: the channel alone closed (a channel error, consumer_timeout) or the broker cancelled the
 *   consumer (queue deleted): a new channel on the same connection;
 * - `reconnecting`: the connection was lost: connecting again, failing over to the other nodes;
 * - `closing` / `closed`: stopping, or gave up.
 */
export type LinkState = 'idle' | 'connecting' | 'consuming' | 'repairing' | 'reconnecting' | 'closing' | 'closed';

const TRANSITIONS = {
  idle: ['connecting', 'closing', 'closed'],
  connecting: ['consuming', 'closing', 'closed'],
  consuming: ['repairing', 'reconnecting', 'closing'],
  // a connection loss during a channel repair supersedes it: it is never dropped
  repairing: ['consuming', 'reconnecting', 'closing', 'closed'],
  reconnecting: ['consuming', 'closing', 'closed'],
  closing: ['closed'],
  closed: [],
} as const satisfies Record<LinkState, readonly LinkState[]>;

export interface BrokerLinkOptions {
  connect: Omit<ConnectOptions, 'logger' | 'name' | 'signal' | 'startAfter'>;
  settings: WorkerSettings;
  name: string;
  logger: Logger;
  consumer: Consumer;
  clock?: Clock;
  /** The link cannot be repaired: stop with this cause. */
  onGiveUp: (cause: 'broker-lost' | 'consumer-cancelled') => void;
  /** Connection lost (true) or consuming again (false). */
  onReconnecting: (reconnecting: boolean) => void;
}

/**
 * The worker's side of the broker: a connection to consume on (topology, session, consumer), and a
 * publishing connection for copies (ConfirmLink). Keeps consuming through outages: after a connection loss
 * it reconnects, failing over to the next URL of a cluster, declares the queues again and resumes; a
 * channel closed under it is reopened on the same connection; a consumer cancelled by the broker (queue
 * deleted) is declared and subscribed again. Every repair runs under a generation number: a newer event
 * (a connection loss during a channel repair) supersedes an older repair instead of being dropped.
 */
export class BrokerLink {
  readonly #options: BrokerLinkOptions;
  readonly #clock: Clock;
  readonly #abort = new AbortController();
  readonly #state: Lifecycle<LinkState>;
  readonly #copies: ConfirmLink;
  readonly #delays: DelayedDelivery;
  readonly #settler: Settler;
  #connection: ChannelModel | undefined;
  #urlIndex: number | undefined;
  #session: BrokerSession | undefined;
  #generation = 0;
  #cancels: number[] = [];
  readonly #loopLag: LoopLag;
  /** Message ids a connection loss returned, announced to every worker once connected again. */
  #toAnnounce: string[] = [];

  constructor(options: BrokerLinkOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    const { settings, logger, name, consumer } = options;
    this.#state = new Lifecycle<LinkState>('broker link', 'idle', TRANSITIONS, { log: logger });
    this.#loopLag = new LoopLag(this.#clock);
    this.#copies = new ConfirmLink({ urls: options.connect.urls, name: `rabbit-worker ${name} copies pid ${process.pid}`, logger, clock: this.#clock });
    this.#delays = new DelayedDelivery(this.#copies);
    this.#settler = new Settler({
      queue: settings.queue,
      queueType: settings.queueType,
      worker: name,
      logger,
      settings,
      copies: this.#copies,
      delays: this.#delays,
      clock: this.#clock,
      redeclare: (deadline) => this.#copies.declare(deadline, (channel) => assertWorkQueue(channel, settings.queue, settings)),
      onSettled: (delivery, outcome) => consumer.settled(delivery, outcome),
    });
  }

  get state(): LinkState {
    return this.#state.state;
  }

  /** The first connection: errors propagate (unreachable → exit 3, refused or queue mismatch → exit 2). */
  async open(): Promise<void> {
    if (!this.#state.to('connecting', 'open')) throw new Error('the broker link was closed before it opened');
    this.#loopLag.start();
    const generation = ++this.#generation;
    await this.#connectAndConsume(generation, this.#options.connect.attempts ?? 5);
    if (!this.#state.to('consuming', 'subscribed')) await this.#dropConnection();
  }

  /** Stops deliveries; in-flight ones stay ours to settle. */
  async cancel(deadline?: Deadline): Promise<void> {
    await this.#session?.cancel(deadline);
  }

  /**
   * Ends repairs, then closes the consuming session and the publishing connection, all within `deadline`
   * (past it, sockets are destroyed: what is unacked goes back to the queue). Copies still waiting for the
   * broker are abandoned: their originals are unacked and come back too.
   */
  async close(deadline: Deadline): Promise<void> {
    if (!this.#state.to('closing', 'close')) return;
    this.#generation++;
    this.#abort.abort(new Error('worker stopping'));
    this.#loopLag.stop();
    this.#settler.abandon();
    const session = this.#session;
    this.#session = undefined;
    await session?.close(deadline);
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection !== undefined && connection !== session?.connection) await connection.close().catch(() => {});
    await this.#copies.close(Math.max(100, deadline.remainingMs()));
    this.#state.to('closed', 'closed');
  }

  async #connectAndConsume(generation: number, rounds: number, roundLog: { roundOffset?: number; roundsTotal?: number } = {}): Promise<void> {
    const { settings, logger, name } = this.#options;
    const { connection, index, url } = await connectTo({
      ...this.#options.connect,
      ...roundLog,
      attempts: rounds,
      logger,
      name: `rabbit-worker ${name} pid ${process.pid}`,
      signal: this.#abort.signal,
      clock: this.#clock,
      ...(this.#urlIndex !== undefined ? { startAfter: this.#urlIndex } : {}),
    });
    if (generation !== this.#generation) {
      await connection.close().catch(() => {});
      throw new Error('superseded');
    }
    this.#connection = connection;
    this.#urlIndex = index;
    connection.on('error', () => {}); // 'close' carries the news
    connection.on('close', (error?: Error) => this.#lost(connection, error));
    try {
      await declareWorkQueue(connection, settings.queue, settings);
      await this.#options.consumer.journal.listen(connection);
      await this.#subscribe(connection, generation);
      logger.debug(`consuming through ${redactUrl(url)}`);
    } catch (error) {
      if (this.#connection === connection) this.#connection = undefined; // its close is ours, not a loss
      await connection.close().catch(() => {});
      throw error;
    }
  }

  async #subscribe(connection: ChannelModel, generation: number): Promise<void> {
    const { settings, logger, consumer } = this.#options;
    const session = await BrokerSession.open(connection, settings.prefetch);
    if (generation !== this.#generation) {
      await session.channel.close().catch(() => {});
      throw new Error('superseded');
    }
    this.#session = session;
    session.onClose((error) => {
      consumer.channelLost(session, { outage: false });
      if (this.#session !== session || connection !== this.#connection || !this.#state.is('consuming')) return;
      // The channel alone closed (consumer_timeout, a channel error); the connection may follow a moment later.
      setImmediate(() => {
        if (this.#session !== session || connection !== this.#connection || !this.#state.is('consuming')) return;
        logger.warn(`channel closed under the consumer${error ? ` (${error.message})` : ''}; opening a new one`, { code: ErrorCode.CONSUMER_LOST });
        this.#startRepair('repairing', 'channel closed', async (gen) => {
          await this.#subscribe(connection, gen);
        });
      });
    });
    await consumer.start(session, this.#settler, () => this.#cancelled(connection, session));
  }

  #cancelled(connection: ChannelModel, session: BrokerSession): void {
    const { settings, logger, consumer } = this.#options;
    const now = this.#clock.now();
    this.#cancels = [...this.#cancels.filter((t) => now - t < CANCEL_WINDOW_MS), now];
    const held = consumer.inflight;
    if (this.#cancels.length > MAX_CANCELS) {
      logger.error(`RabbitMQ cancelled the consumer ${this.#cancels.length} times in a minute; exiting for the process manager to restart`, { code: ErrorCode.CONSUMER_LOST });
      this.#options.onGiveUp('consumer-cancelled');
      return;
    }
    logger.error(
      `RabbitMQ cancelled the consumer: queue "${settings.queue}" was deleted (or its node went away); ${held} message(s) unacked in this process went with a deleted queue's messages. Declaring it again and consuming on`,
      { code: ErrorCode.CONSUMER_LOST, unacked: held },
    );
    this.#startRepair('repairing', 'consumer cancelled', async (gen) => {
      await declareWorkQueue(connection, settings.queue, settings);
      await this.#subscribe(connection, gen);
      await session.channel.close().catch(() => {});
    });
  }

  #lost(connection: ChannelModel, error?: Error): void {
    if (connection !== this.#connection || this.#state.is('closing', 'closed')) return;
    const { logger, consumer } = this.#options;
    this.#connection = undefined;
    const session = this.#session;
    // A loop blocked past the heartbeats means the loss may be the callback's doing: then it counts.
    const heartbeat = (this.#options.connect.heartbeat ?? 10) * 1000;
    const stalled = this.#loopLag.longestStall(4 * heartbeat);
    const outage = stalled < heartbeat;
    if (session !== undefined) this.#toAnnounce.push(...consumer.channelLost(session, { outage }));
    if (!outage) {
      this.#toAnnounce = [];
      logger.warn(`the event loop was blocked for ${Math.round(stalled / 1000)} s before the connection was lost: its messages count as attempts (a callback on the main thread may be the cause)`);
    }
    logger.error(`connection to RabbitMQ lost${error ? `: ${error.message}` : ''}; reconnecting (unacked messages are requeued by the broker)`);
    this.#options.onReconnecting(true);
    this.#startRepair('reconnecting', 'connection lost', async (gen) => {
      await this.#reconnect(gen);
      logger.info('reconnected; consuming again');
      this.#options.onReconnecting(false);
      const ids = this.#toAnnounce;
      this.#toAnnounce = [];
      void consumer.journal.announce(this.#copies, ids, this.#options.settings.queue);
    });
  }

  /**
   * Moves to `state` and runs `work` under a new generation. A repair already running is superseded (it
   * stops at its next step): a connection loss during a channel repair is never lost.
   */
  #startRepair(state: 'repairing' | 'reconnecting', why: string, work: (generation: number) => Promise<void>): void {
    if (!this.#state.to(state, why)) return;
    const generation = ++this.#generation;
    void work(generation).then(
      () => {
        if (generation === this.#generation) this.#state.to('consuming', `${why}: repaired`);
      },
      (error: unknown) => {
        if (generation !== this.#generation || this.#state.is('closing', 'closed')) return;
        this.#options.logger.error(`cannot repair the broker link: ${(error as Error).message}`, { code: (error as { code?: unknown }).code });
        this.#state.to('closed', 'gave up');
        this.#options.onGiveUp(state === 'reconnecting' || (error as { code?: unknown }).code === ErrorCode.BROKER_UNREACHABLE ? 'broker-lost' : 'consumer-cancelled');
      },
    );
  }

  /** Connect, declare, consume — round after round over every URL, with backoff and jitter between rounds. */
  async #reconnect(generation: number): Promise<void> {
    let delay = 500;
    for (let round = 1; ; round++) {
      if (generation !== this.#generation) throw new Error('superseded');
      try {
        await this.#connectAndConsume(generation, 1, { roundOffset: round - 1, roundsTotal: RECONNECT_ROUNDS });
        return;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (generation !== this.#generation || round >= RECONNECT_ROUNDS || code === ErrorCode.TOPOLOGY_MISMATCH || code === ErrorCode.BROKER_ACCESS_REFUSED) throw error;
        const wait = Math.round(delay * (0.5 + Math.random() * 0.5));
        this.#options.logger.warn(`reconnection round ${round} of ${RECONNECT_ROUNDS} failed: ${describeConnectError((error as { cause?: unknown }).cause ?? error)}; next round in ${wait} ms`, { round, rounds: RECONNECT_ROUNDS });
        await sleep(wait, this.#abort.signal, this.#clock);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  async #dropConnection(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    await connection?.close().catch(() => {});
  }
}
