import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { connectTo } from '../../broker/connection.js';
import { redactUrl } from '../../broker/url.js';
import { sleep } from '../../clock.js';
import type { Logger } from '../../log/logger.js';
import { decodeToken, encodeToken, type SettledTicks } from './token.js';

/** The leader writes its token again at least this often: well within any sane `consumer_timeout`. */
export const RENEW_MS = 30_000;

/** The election queue of a group: a quorum queue with single-active-consumer, holding one token. */
export const electionQueueName = (group: string): string => `rabbit-worker.scheduler.${group}`;

export interface LeaderTokenOptions {
  urls: string[];
  group: string;
  logger: Logger;
  /** The broker made this supervisor the active consumer: it leads, with the token's state. */
  onLead: (last: SettledTicks) => void;
  /** Another token arrived (two supervisors bootstrapped at once, a renewal cut short): merge it. */
  onMerge: (last: SettledTicks) => void;
  /** The channel or connection is gone: the broker hands the token to another supervisor. */
  onFollow: () => void;
  /** The state to write in each periodic renewal. */
  state: () => SettledTicks;
}

interface Open {
  connection: ChannelModel;
  channel: ConfirmChannel;
  consumerTag: string | undefined;
}

/**
 * Leader election through the broker itself. Every supervisor of a group consumes the group's election
 * queue, a quorum queue with `x-single-active-consumer`: the broker delivers only to one consumer at a
 * time and, when that consumer's channel dies (its process killed, its node gone), to the next one. The
 * queue holds one message, the token, which the leader keeps unacked; receiving it is how a supervisor
 * learns that it leads. The leader renews it (publish the new state, confirmed, then ack the old one:
 * never zero tokens) after every change and every {@link RENEW_MS}, far inside `consumer_timeout`.
 *
 * Exactly one token: a supervisor that finds the queue empty and without consumers publishes the first
 * one. Two that start at the same instant may both do it; the leader then holds only the token it wrote
 * last and acks any other after merging its state (see token.ts), so extra tokens vanish at once.
 */
export class LeaderToken {
  readonly #options: LeaderTokenOptions;
  readonly #queue: string;
  readonly #stopping = new AbortController();
  #open: Open | undefined;
  #urlIndex: number | undefined;
  #leading = false;
  /** The token held unacked. */
  #held: ConsumeMessage | undefined;
  /** Id of the token this leader wrote last: the one to hold; any other is a duplicate. */
  #latestId: string | undefined;
  #renewing: Promise<void> = Promise.resolve();
  #renewTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(options: LeaderTokenOptions) {
    this.#options = options;
    this.#queue = electionQueueName(options.group);
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Joins the election, and keeps joining it again after every connection loss, until `stop()`. */
  start(): void {
    this.#running ??= this.#loop();
  }

  /** Writes a new token with `last` (confirmed), then acks the one held. Serialised; a no-op when not leading. */
  renew(last: SettledTicks): Promise<void> {
    const next = this.#renewing.then(() => this.#write(last));
    this.#renewing = next.catch(() => {});
    return next;
  }

  /**
   * Leaves the election: stops consuming, writes the final state, acks the held token so that the next
   * supervisor takes over at once with it, and closes. Idempotent.
   */
  async stop(finalState?: SettledTicks): Promise<void> {
    if (this.#stopping.signal.aborted) return this.#running;
    const open = this.#open;
    const leading = this.#leading;
    if (open?.consumerTag !== undefined) await open.channel.cancel(open.consumerTag).catch(() => {});
    if (leading && finalState !== undefined) await this.renew(finalState).catch(() => {});
    this.#stopping.abort(new Error('scheduler stopping'));
    this.#follow();
    await open?.connection.close().catch(() => {});
    await this.#running;
  }

  async #loop(): Promise<void> {
    const { logger } = this.#options;
    let delay = 500;
    while (!this.#stopping.signal.aborted) {
      try {
        const closed = await this.#join();
        delay = 500;
        await closed;
      } catch (error) {
        if (this.#stopping.signal.aborted) break;
        logger.warn(`schedules: cannot join the election on "${this.#queue}": ${(error as Error).message}; trying again in ${delay} ms`);
      }
      this.#follow();
      if (this.#stopping.signal.aborted) break;
      await sleep(delay * (0.8 + Math.random() * 0.4), this.#stopping.signal).catch(() => {});
      delay = Math.min(delay * 2, 10_000);
    }
  }

  /** Connects (failing over to the next URL), declares, consumes, bootstraps; resolves with "closed". */
  async #join(): Promise<Promise<void>> {
    const { logger, urls } = this.#options;
    const { connection, index, url } = await connectTo({
      urls,
      attempts: Number.MAX_SAFE_INTEGER,
      name: `rabbit-worker scheduler ${this.#options.group} pid ${process.pid}`,
      logger,
      signal: this.#stopping.signal,
      ...(this.#urlIndex !== undefined ? { startAfter: this.#urlIndex } : {}),
    });
    this.#urlIndex = index;
    const closed = new Promise<void>((resolve) => connection.once('close', () => resolve()));
    connection.on('error', () => {});
    try {
      const channel = await connection.createConfirmChannel();
      channel.on('error', () => {});
      channel.once('close', () => void connection.close().catch(() => {}));
      const open: Open = { connection, channel, consumerTag: undefined };
      this.#open = open;
      await channel.prefetch(1);
      const declared = await channel.assertQueue(this.#queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-single-active-consumer': true } });
      const { consumerTag } = await channel.consume(this.#queue, (message) => this.#delivered(open, message), { noAck: false });
      open.consumerTag = consumerTag;
      if (declared.messageCount === 0 && declared.consumerCount === 0) {
        // nobody holds a token and none waits: the first supervisor of the group writes it
        channel.publish('', this.#queue, this.#body({}), { messageId: randomUUID(), persistent: true, contentType: 'application/json' });
        await channel.waitForConfirms();
        logger.info(`schedules: wrote the first leader token of group "${this.#options.group}"`);
      }
      logger.info(`schedules: in the election of group "${this.#options.group}" through ${redactUrl(url)}; the broker hands the token to one supervisor at a time`);
    } catch (error) {
      await connection.close().catch(() => {});
      throw error;
    }
    return closed;
  }

  #delivered(open: Open, message: ConsumeMessage | null): void {
    if (message === null) {
      // the broker cancelled the consumer (the queue was deleted): join again from the start
      void open.connection.close().catch(() => {});
      return;
    }
    if (this.#open !== open) return;
    const state = decodeToken(message.content);
    const id = message.properties.messageId as string | undefined;
    if (!this.#leading) {
      this.#leading = true;
      this.#held = message;
      this.#latestId = id;
      this.#options.logger.info(`schedules: this supervisor leads group "${this.#options.group}"`, { group: this.#options.group });
      this.#renewTimer = setInterval(() => void this.renew(this.#options.state()).catch(() => {}), RENEW_MS);
      this.#options.onLead(state);
      return;
    }
    if (id !== undefined && id === this.#latestId && this.#held === undefined) {
      this.#held = message;
      return;
    }
    // a duplicate: what it knows joins ours; it goes away
    this.#options.onMerge(state);
    open.channel.ack(message);
  }

  async #write(last: SettledTicks): Promise<void> {
    const open = this.#open;
    if (open === undefined || !this.#leading) return;
    const id = randomUUID();
    this.#latestId = id;
    open.channel.publish('', this.#queue, this.#body(last), { messageId: id, persistent: true, contentType: 'application/json' });
    await open.channel.waitForConfirms();
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined && this.#open === open) open.channel.ack(held);
  }

  #body(last: SettledTicks): Buffer {
    return encodeToken({ v: 1, group: this.#options.group, last, by: `${hostname()} pid ${process.pid}`, at: new Date().toISOString() });
  }

  #follow(): void {
    clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
    this.#open = undefined;
    this.#held = undefined;
    this.#latestId = undefined;
    if (!this.#leading) return;
    this.#leading = false;
    this.#options.logger.warn(`schedules: this supervisor no longer leads group "${this.#options.group}"`, { group: this.#options.group });
    this.#options.onFollow();
  }
}
