import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { connectAny } from './connect.js';

/** One message to publish, until the broker confirms it. */
export interface Outgoing {
  queue: string;
  id: string;
  body: Buffer;
  /** Times it was handed to a channel; more than 1 means it may exist twice in its queue. */
  sends: number;
}

/** Unconfirmed publishes at most: enough to keep the broker busy, bounded so that memory is too. */
const WINDOW = 1000;
/** How long the publisher keeps trying to reconnect before it gives up on its pending messages. */
const RECONNECT_FOR_MS = 120_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A confirm-channel publisher that survives the faults of the run (closed connections, a stopped broker):
 * every message stays pending until the broker confirmed it; whatever was unconfirmed when the channel
 * died is sent again after reconnecting (so it may be in its queue twice: that is counted, see
 * {@link resent}). Publishes are `mandatory`: a returned (unroutable) message is sent again too.
 */
export class ChaosPublisher {
  readonly #url: string;
  readonly #log: (line: string) => void;
  readonly #pending: Outgoing[] = [];
  #connection: ChannelModel | undefined;
  #channel: ConfirmChannel | undefined;
  #unconfirmed = 0;
  #blocked = false;
  #closing = false;
  #reconnecting: Promise<void> | undefined;
  #returned = new Set<string>();
  #idleWaiters: Array<() => void> = [];
  /** Index of the node (of a comma-separated url) to try first: the one after the node that failed. */
  #nextNode = 0;
  #failure: Error | undefined;
  /** Confirmed publishes. */
  confirmed = 0;
  /** Ids sent more than once (after a connection loss or a return). */
  readonly resent = new Set<string>();
  /** Connections lost and opened again. */
  reconnects = 0;
  onConfirm: (item: Outgoing) => void = () => {};

  constructor(url: string, log: (line: string) => void) {
    this.#url = url;
    this.#log = log;
  }

  async start(): Promise<void> {
    await this.#connect(30_000);
  }

  /** Messages not yet confirmed (queued or on the wire). */
  get outstanding(): number {
    return this.#pending.length + this.#unconfirmed;
  }

  enqueue(items: Outgoing[]): void {
    if (this.#failure !== undefined) throw this.#failure;
    for (const item of items) this.#pending.push(item);
    this.#pump();
  }

  /** Resolves once everything enqueued is confirmed; false after `timeoutMs` or when the publisher gave up. */
  async idle(timeoutMs: number): Promise<boolean> {
    if (this.outstanding === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.outstanding === 0);
      });
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#connection?.close().catch(() => {});
  }

  async #connect(forMs: number): Promise<void> {
    const deadline = Date.now() + forMs;
    let delay = 250;
    for (;;) {
      try {
        const { connection, index } = await connectAny(this.#url, { name: 'chaos publisher', heartbeat: 5, start: this.#nextNode });
        this.#nextNode = index + 1;
        const channel = await connection.createConfirmChannel();
        connection.on('error', () => {}); // 'close' carries the news
        channel.on('error', () => {});
        channel.on('return', (message: { properties: { messageId?: unknown } }) => this.#returned.add(String(message.properties.messageId)));
        channel.on('close', () => {
          if (this.#channel === channel) this.#channel = undefined;
          // A channel-level error leaves the connection open: close it, so that one path reconnects.
          void connection.close().catch(() => {});
        });
        connection.on('close', () => {
          if (this.#connection !== connection) return;
          this.#connection = undefined;
          this.#channel = undefined;
          if (!this.#closing) void this.#reconnect();
        });
        this.#connection = connection;
        this.#channel = channel;
        this.#blocked = false;
        this.#pump();
        return;
      } catch (error) {
        if (Date.now() + delay > deadline) throw new Error(`publisher: cannot connect to ${this.#url.replace(/\/\/[^@,]*@/g, '//')}: ${(error as Error).message}`, { cause: error });
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  #reconnect(): Promise<void> {
    this.#reconnecting ??= (async () => {
      this.#log(`publisher: connection lost with ${this.#unconfirmed} unconfirmed; reconnecting`);
      try {
        await this.#connect(RECONNECT_FOR_MS);
        this.reconnects += 1;
        this.#log(`publisher: reconnected; ${this.outstanding} message(s) to (re)send`);
      } catch (error) {
        this.#failure = error as Error;
        this.#log(`publisher: giving up: ${this.#failure.message}`);
        this.#idleWaiters.splice(0).forEach((resolve) => resolve());
      } finally {
        this.#reconnecting = undefined;
      }
    })();
    return this.#reconnecting;
  }

  #pump(): void {
    const channel = this.#channel;
    if (channel === undefined || this.#blocked) return;
    while (this.#pending.length > 0 && this.#unconfirmed < WINDOW) {
      const item = this.#pending.shift() as Outgoing;
      item.sends += 1;
      if (item.sends > 1) this.resent.add(item.id);
      this.#unconfirmed += 1;
      let settled = false;
      const done = (error: unknown): void => {
        if (settled) return;
        settled = true;
        this.#unconfirmed -= 1;
        if (error !== null && error !== undefined) this.#pending.push(item);
        else if (this.#returned.delete(item.id)) this.#pending.push(item); // unroutable: confirmed, yet dropped
        else {
          this.confirmed += 1;
          this.onConfirm(item);
        }
        // Never from inside amqplib's close handler: the next publish waits for the next turn.
        setImmediate(() => this.#pump());
        if (this.outstanding === 0) this.#idleWaiters.splice(0).forEach((resolve) => resolve());
      };
      try {
        const flowing = channel.publish('', item.queue, item.body, { persistent: true, mandatory: true, messageId: item.id, contentType: 'application/json' }, done);
        if (!flowing) {
          this.#blocked = true;
          channel.once('drain', () => {
            this.#blocked = false;
            this.#pump();
          });
          return;
        }
      } catch (error) {
        done(error);
        return;
      }
    }
  }
}
