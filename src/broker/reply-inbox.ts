import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Deadline } from '../deadline.js';
import { ErrorCode, RabbitWorkerError } from '../errors.js';
import type { ConfirmLink } from './confirm-link.js';
import { DIRECT_REPLY_TO, REPLY_STATUS_HEADER, type ReplyError } from './reply-protocol.js';

/** A request's reply, decoded: the worker's value, or why its request was dead-lettered. */
export type Reply = { ok: true; value: unknown } | { ok: false; error: ReplyError };

interface Waiting {
  resolve(reply: Reply): void;
  reject(error: Error): void;
  /** The channel the request was confirmed on: its reply can only come back there. */
  channel: ConfirmChannel | undefined;
}

/** The reply's body: JSON, or bytes (a Buffer) when the worker replied with bytes. */
function decode(message: ConsumeMessage): Reply {
  const status = (message.properties.headers as Record<string, unknown> | undefined)?.[REPLY_STATUS_HEADER];
  const text = (): string => message.content.toString('utf8');
  if (status === 'error') {
    try {
      return { ok: false, error: JSON.parse(text()) as ReplyError };
    } catch {
      return { ok: false, error: { reason: text(), cause: 'rejected' } };
    }
  }
  if (message.properties.contentType === 'application/octet-stream') return { ok: true, value: message.content };
  return { ok: true, value: JSON.parse(text()) as unknown };
}

/**
 * The requester's side of direct reply-to, on the publisher's own channel: consumes `amq.rabbitmq.reply-to`
 * (no ack; set up once per channel, before any request is published on it) and hands each reply to the
 * request with its `correlationId`. A reply for no one waiting (a timed-out request, the second reply of a
 * request that ran twice) is dropped. When the channel closes, the requests confirmed on it can no longer
 * get their reply: they fail with REPLY_LOST; those not confirmed yet are sent again by the link, on the
 * next channel, whose own reply address they then carry.
 */
export class ReplyInbox {
  readonly #link: ConfirmLink;
  readonly #waiting = new Map<string, Waiting>();
  readonly #setup = (channel: ConfirmChannel): Promise<void> => this.#consume(channel);

  constructor(link: ConfirmLink) {
    this.#link = link;
  }

  /** Requests waiting for their reply. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Makes sure that the publishing channel (and every later one) consumes direct reply-to. */
  async attach(deadline: Deadline): Promise<void> {
    await this.#link.addSetup(this.#setup, deadline);
  }

  /**
   * Waits for the reply to `correlationId`. `sent` records the channel the request was confirmed on;
   * `forget` stops waiting (a timeout, a failed publish).
   */
  expect(correlationId: string): { reply: Promise<Reply>; sent: (channel: ConfirmChannel) => void; forget: () => void } {
    let waiting: Waiting | undefined;
    const reply = new Promise<Reply>((resolve, reject) => {
      waiting = { resolve, reject, channel: undefined };
      this.#waiting.set(correlationId, waiting);
    });
    return {
      reply,
      sent: (channel) => {
        if (waiting !== undefined) waiting.channel = channel;
      },
      forget: () => {
        if (this.#waiting.get(correlationId) === waiting) this.#waiting.delete(correlationId);
      },
    };
  }

  /** Fails every request still waiting (the publisher closes). */
  close(error: Error): void {
    for (const waiting of this.#waiting.values()) waiting.reject(error);
    this.#waiting.clear();
  }

  async #consume(channel: ConfirmChannel): Promise<void> {
    channel.on('close', () => this.#lost(channel));
    await channel.consume(DIRECT_REPLY_TO, (message) => {
      if (message !== null) this.#deliver(message);
    }, { noAck: true });
  }

  #deliver(message: ConsumeMessage): void {
    const id = message.properties.correlationId === undefined ? undefined : String(message.properties.correlationId);
    const waiting = id === undefined ? undefined : this.#waiting.get(id);
    if (waiting === undefined || id === undefined) return;
    this.#waiting.delete(id);
    try {
      waiting.resolve(decode(message));
    } catch (error) {
      waiting.reject(new RabbitWorkerError(ErrorCode.INVALID_REPLY, `the reply is not valid JSON: ${(error as Error).message}`, { cause: error }));
    }
  }

  #lost(channel: ConfirmChannel): void {
    for (const [id, waiting] of this.#waiting) {
      if (waiting.channel !== channel) continue;
      this.#waiting.delete(id);
      waiting.reject(new RabbitWorkerError(ErrorCode.REPLY_LOST, 'the connection was lost while waiting for the reply (its address died with the channel); the request may still run'));
    }
  }
}
