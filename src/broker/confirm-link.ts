import { setMaxListeners } from 'node:events';
import type { Channel, ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';
import { sleep, systemClock, type Clock } from '../clock.js';
import { Deadline, raceDeadline } from '../deadline.js';
import { ErrorCode, RabbitWorkerError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { connectTo } from './connection.js';
import { destroyConnection } from './destroy.js';

export interface ConfirmLinkOptions {
  urls: string[];
  /** Shown in RabbitMQ's connection list. */
  name: string;
  logger?: Logger;
  clock?: Clock;
}

/** What became of a confirmed publish: taken by at least one queue, or returned because none took it. */
export type PublishOutcome = 'routed' | 'returned';

/** Work done on a publishing channel before anything is published on it (e.g. consuming direct reply-to). */
export type ChannelSetup = (channel: ConfirmChannel) => Promise<void>;

interface Open {
  connection: ChannelModel;
  channel: ConfirmChannel;
  index: number;
  /** Publishes waiting for their confirm: failed at once when the connection is lost. */
  waiting: Set<(error: Error) => void>;
  /** Set by our own 'close' listener: a confirm failing then is a loss, not the broker's refusal. */
  closed: boolean;
  /** The setups already run on this channel. */
  prepared: Set<ChannelSetup>;
}

interface PendingReturn {
  returned: boolean;
}

/** The connection died before the broker confirmed: the message may or may not have been taken. */
const isLoss = (error: unknown): boolean => {
  const code = (error as { code?: unknown }).code;
  return code !== ErrorCode.PUBLISH_REFUSED && code !== ErrorCode.HEADERS_TOO_LARGE;
};

/**
 * A confirm channel on a connection of its own, opened on first use and again after a loss (failing over
 * to the next node), for everything rabbit-worker publishes: the application's messages (`Publisher`) and a
 * worker's copies (dead letters, retries, recounts). Publishing on a connection apart from the consumer's is
 * what RabbitMQ recommends: under a memory or disk alarm the broker stops reading from connections that
 * publish, and the consumer's acks must keep flowing.
 *
 * Every publish is `mandatory` and confirmed; it resolves `routed` or `returned` (no queue took it) and is
 * sent again when the connection died before its confirm (at least once). Deadlines are held timers.
 */
export class ConfirmLink {
  readonly #options: ConfirmLinkOptions;
  readonly #clock: Clock;
  readonly #closing = new AbortController();
  #open: Promise<Open> | undefined;
  #lastIndex: number | undefined;
  #blocked: string | undefined;
  #unblockWaiters: Array<() => void> = [];
  readonly #returns = new Map<string, PendingReturn[]>();
  readonly #setups: ChannelSetup[] = [];

  constructor(options: ConfirmLinkOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    // every publish waiting for a connection listens on it (a deadline's parent): many at once are no leak
    setMaxListeners(0, this.#closing.signal);
  }

  /** The reason RabbitMQ gave when it blocked publishing (a resource alarm), or undefined. */
  get blocked(): string | undefined {
    return this.#blocked;
  }

  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /**
   * Publishes and resolves once the broker confirmed: `routed`, or `returned` when no queue took it.
   * Waits (up to the deadline) for a connection, for an alarm to clear, and sends again after a connection
   * loss. Rejects with PUBLISH_REFUSED (the broker nacked), BROKER_BLOCKED (an alarm outlasted the deadline),
   * BROKER_UNREACHABLE (no connection in time), PUBLISHER_CLOSED, or the deadline's own reason.
   * `onConfirmed` is told the channel that the confirm came on (a request's reply comes back on it).
   */
  async publish(exchange: string, routingKey: string, body: Buffer, properties: Options.Publish, deadline: Deadline, onConfirmed?: (channel: ConfirmChannel) => void): Promise<PublishOutcome> {
    let delay = 200;
    for (;;) {
      if (this.closed) throw new RabbitWorkerError(ErrorCode.PUBLISHER_CLOSED, 'the publishing connection was closed before the broker confirmed the message');
      // Waiting for a connection or for an alarm to clear ends with close(); a confirm already due is awaited.
      const waiting = new Deadline(deadline.remainingMs(), () => deadline.signal.reason as Error, { parent: this.#closing.signal, clock: this.#clock });
      try {
        const open = await raceDeadline(this.#connected(waiting), waiting);
        await this.#whileBlocked(waiting);
        waiting.clear();
        return await this.#send(open, exchange, routingKey, body, { ...properties, mandatory: true }, deadline, onConfirmed);
      } catch (error) {
        waiting.clear();
        if (deadline.expired || this.closed || !isLoss(error) || (error as { code?: unknown }).code === ErrorCode.BROKER_ACCESS_REFUSED) throw this.#final(error, deadline);
        this.#options.logger?.warn(`publish to "${exchange || routingKey}" interrupted (${(error as Error).message}); sending it again`, { messageId: properties.messageId });
        await sleep(Math.min(delay, deadline.remainingMs()), deadline.signal, this.#clock).catch(() => {});
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /**
   * Runs `setup` on every publishing channel before anything is published on it: on the open one now (once
   * it is open, within `deadline`), and on each one opened after a loss. Adding the same setup twice runs it
   * once per channel.
   */
  async addSetup(setup: ChannelSetup, deadline: Deadline): Promise<void> {
    if (!this.#setups.includes(setup)) this.#setups.push(setup);
    const open = await raceDeadline(this.#connected(deadline), deadline);
    await raceDeadline(this.#prepare(open), deadline);
  }

  async #prepare(open: Open): Promise<void> {
    for (const setup of this.#setups) {
      if (open.prepared.has(setup)) continue;
      open.prepared.add(setup);
      await setup(open.channel);
    }
  }

  /** Runs declarations on a channel of their own (a failed declaration closes its channel). */
  async declare<T>(deadline: Deadline, work: (channel: Channel) => Promise<T>): Promise<T> {
    const open = await raceDeadline(this.#connected(deadline), deadline);
    const channel = await open.connection.createChannel();
    channel.on('error', () => {});
    try {
      return await raceDeadline(work(channel), deadline);
    } finally {
      void channel.close().catch(() => {});
    }
  }

  /**
   * Waits (up to `timeoutMs`) for the confirms still due, then closes; under an alarm, or when the broker
   * does not answer, the socket is destroyed at the deadline. Idempotent.
   */
  async close(timeoutMs = 5000): Promise<void> {
    if (!this.closed) this.#closing.abort(new RabbitWorkerError(ErrorCode.PUBLISHER_CLOSED, 'publisher closed'));
    this.#unblockWaiters.splice(0).forEach((wake) => wake());
    const pending = this.#open;
    this.#open = undefined;
    if (pending === undefined) return;
    const open = await pending.catch(() => undefined);
    if (open === undefined) return;
    const deadline = new Deadline(timeoutMs, () => new Error('close timed out'), { clock: this.#clock });
    try {
      if (this.#blocked === undefined) await raceDeadline(open.channel.waitForConfirms(), deadline).catch(() => {});
      await raceDeadline(open.connection.close(), deadline).catch(() => destroyConnection(open.connection));
    } finally {
      deadline.clear();
    }
  }

  #connected(deadline: Deadline): Promise<Open> {
    this.#open ??= this.#connect(deadline);
    const current = this.#open;
    current.catch(() => {
      if (this.#open === current) this.#open = undefined;
    });
    return current;
  }

  async #connect(deadline: Deadline): Promise<Open> {
    const { connection, index } = await connectTo({
      urls: this.#options.urls,
      attempts: Number.MAX_SAFE_INTEGER,
      name: this.#options.name,
      signal: deadline.signal,
      clock: this.#clock,
      ...(this.#lastIndex !== undefined ? { startAfter: this.#lastIndex } : {}),
      ...(this.#options.logger !== undefined ? { logger: this.#options.logger } : {}),
    });
    const channel = await connection.createConfirmChannel();
    const open: Open = { connection, channel, index, waiting: new Set(), closed: false, prepared: new Set() };
    const forget = (): void => {
      open.closed = true;
      const lost = new Error('connection lost before the broker confirmed');
      for (const fail of [...open.waiting]) fail(lost);
      this.#lastIndex = index;
      if (this.#blocked !== undefined) this.#unblocked();
      if (this.#open !== undefined) void this.#open.then((o) => o === open && (this.#open = undefined), () => {});
    };
    connection.on('error', () => {});
    connection.on('close', forget);
    connection.on('blocked', (reason: string) => {
      this.#blocked = reason || 'resource alarm';
      this.#options.logger?.warn(`RabbitMQ blocked publishing: ${this.#blocked} (a memory or disk alarm); publishes wait until it clears`, { code: ErrorCode.BROKER_BLOCKED });
    });
    connection.on('unblocked', () => {
      this.#options.logger?.info('RabbitMQ unblocked publishing');
      this.#unblocked();
    });
    channel.on('error', () => {});
    channel.on('close', forget);
    channel.on('return', (message: Message) => {
      const waiting = this.#returns.get(returnKey(message.fields.exchange, message.fields.routingKey, message.properties.messageId));
      const first = waiting?.find((entry) => !entry.returned);
      if (first !== undefined) first.returned = true;
    });
    try {
      await this.#prepare(open);
    } catch (error) {
      await connection.close().catch(() => destroyConnection(connection));
      throw error;
    }
    return open;
  }

  #unblocked(): void {
    this.#blocked = undefined;
    this.#unblockWaiters.splice(0).forEach((wake) => wake());
  }

  async #whileBlocked(deadline: Deadline): Promise<void> {
    while (this.#blocked !== undefined && !this.closed) {
      await raceDeadline(new Promise<void>((resolve) => this.#unblockWaiters.push(resolve)), deadline);
    }
  }

  #send(open: Open, exchange: string, routingKey: string, body: Buffer, properties: Options.Publish, deadline: Deadline, onConfirmed?: (channel: ConfirmChannel) => void): Promise<PublishOutcome> {
    const key = returnKey(exchange, routingKey, properties.messageId);
    const entry: PendingReturn = { returned: false };
    let list = this.#returns.get(key);
    if (list === undefined) this.#returns.set(key, (list = []));
    list.push(entry);
    const release = (): void => {
      const current = this.#returns.get(key);
      if (current === undefined) return;
      const i = current.indexOf(entry);
      if (i >= 0) current.splice(i, 1);
      if (current.length === 0) this.#returns.delete(key);
    };
    let fail: (error: Error) => void = () => {};
    const confirmed = new Promise<PublishOutcome>((resolve, reject) => {
      fail = reject;
      open.waiting.add(fail);
      try {
        // A mandatory message that no queue took comes back (basic.return) before its confirm.
        open.channel.publish(exchange, routingKey, body, properties, (error) => {
          if (!error) {
            onConfirmed?.(open.channel);
            return resolve(entry.returned ? 'returned' : 'routed');
          }
          // amqplib fails unconfirmed publishes with a bare Error both for a broker nack and for a channel
          // closing; its own close listener runs before ours, so decide once every listener has run.
          queueMicrotask(() => {
            if (open.closed) reject(new Error('the channel closed before the broker confirmed', { cause: error }));
            else reject(new RabbitWorkerError(ErrorCode.PUBLISH_REFUSED, `the broker refused the message for "${routingKey}"`, { cause: error }));
          });
        });
      } catch (error) {
        // Thrown before anything was written: the headers do not encode (amqplib's 64 KiB table buffer), or
        // the channel is already closed (then the loop sends it again on a new one).
        if (error instanceof RangeError) reject(new RabbitWorkerError(ErrorCode.HEADERS_TOO_LARGE, `the headers of the message for "${routingKey}" are too large to send (${error.message})`, { cause: error }));
        else reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    return raceDeadline(confirmed, deadline).finally(() => {
      open.waiting.delete(fail);
      release();
    });
  }

  #final(error: unknown, deadline: Deadline): Error {
    const code = (error as { code?: unknown }).code;
    if (code === ErrorCode.PUBLISH_REFUSED || code === ErrorCode.HEADERS_TOO_LARGE || code === ErrorCode.BROKER_ACCESS_REFUSED || code === ErrorCode.PUBLISHER_CLOSED) return error as Error;
    if (this.closed) return new RabbitWorkerError(ErrorCode.PUBLISHER_CLOSED, 'closed before the broker confirmed the message', { cause: error });
    if (deadline.expired && this.#blocked !== undefined) {
      return new RabbitWorkerError(
        ErrorCode.BROKER_BLOCKED,
        `RabbitMQ blocked publishing (${this.#blocked}: a memory or disk alarm) past the deadline; the message may still be delivered once the alarm clears`,
      );
    }
    return (deadline.expired ? (deadline.signal.reason as Error) : error) as Error;
  }
}

const returnKey = (exchange: string, routingKey: string, messageId: unknown): string => `${exchange}\u0000${routingKey}\u0000${messageId === undefined ? '' : String(messageId)}`;
