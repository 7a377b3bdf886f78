import type { Channel, Message } from 'amqplib';

// amqplib's ack/nack read only fields.deliveryTag.
const tagOf = (deliveryTag: number): Message => ({ fields: { deliveryTag } }) as unknown as Message;

const OPEN = 0;
const ACK_PENDING = 1;

/**
 * Settles one channel's deliveries. Acks are coalesced per event-loop turn: the run of acked deliveries at
 * the head of the delivery order goes out as one `ack(multiple=true)`, later ones that completed out of order
 * go out one by one. A delivery still running is never covered by a multiple ack. A message given back goes
 * out at once, as `basic.reject` of that one delivery (RabbitMQ 4.3 stops counting `basic.nack` with requeue
 * in a quorum queue's `x-delivery-count`, which would let a poison message loop).
 * Once the channel is gone every call is a no-op that returns false: tags never cross to a new channel.
 */
export class AckBatcher {
  readonly #channel: Channel;
  // Delivery tags in arrival order (ascending); #head skips the settled prefix.
  #order: number[] = [];
  #head = 0;
  readonly #state = new Map<number, number>();
  #pending: number[] = [];
  #scheduled = false;
  #closed = false;

  constructor(channel: Channel) {
    this.#channel = channel;
  }

  /** False once the channel closed. */
  get open(): boolean {
    return !this.#closed;
  }

  /** Registers a delivery as it arrives. */
  track(tag: number): void {
    this.#order.push(tag);
    this.#state.set(tag, OPEN);
  }

  ack(tag: number): boolean {
    if (this.#closed || this.#state.get(tag) !== OPEN) return false;
    this.#state.set(tag, ACK_PENDING);
    this.#pending.push(tag);
    if (this.#state.size === 1) {
      // the only delivery open (prefetch 1, or the last of a burst): nothing to coalesce with, send now
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** Gives one delivery back: to the queue (`requeue`), or to its dead-letter exchange. */
  reject(tag: number, requeue: boolean): boolean {
    if (this.#closed || this.#state.get(tag) !== OPEN) return false;
    this.#state.delete(tag);
    try {
      this.#channel.reject(tagOf(tag), requeue);
      return true;
    } catch {
      this.close();
      return false;
    }
  }

  /** Sends the acks collected so far. */
  flush(): void {
    this.#scheduled = false;
    if (this.#closed || this.#pending.length === 0) return;
    let upTo = -1;
    while (this.#head < this.#order.length) {
      const tag = this.#order[this.#head] as number;
      const state = this.#state.get(tag);
      if (state === OPEN) break;
      if (state === ACK_PENDING) {
        upTo = tag;
        this.#state.delete(tag);
      }
      this.#head++;
    }
    if (this.#head > 1024) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
    try {
      if (upTo >= 0) this.#channel.ack(tagOf(upTo), true);
      for (const tag of this.#pending) {
        if (this.#state.get(tag) !== ACK_PENDING) continue;
        this.#state.delete(tag);
        this.#channel.ack(tagOf(tag), false);
      }
    } catch {
      this.close();
    }
    this.#pending = [];
  }

  /** The channel is gone: forget every tag. */
  close(): void {
    this.#closed = true;
    this.#state.clear();
    this.#order = [];
    this.#pending = [];
  }
}
