import type { ConsumeMessage, MessagePropertyHeaders } from 'amqplib';
import type { BrokerSession } from '../broker/session.js';
import type { QueueType } from './options.js';
import type { DeliveryData, MessageProperties, Settlement } from './settlement.js';

/** Header in which rabbit-worker counts attempts on classic queues, which count nothing themselves. */
export const ATTEMPTS_HEADER = 'x-rabbit-worker-attempts';
/** Set on a message that was in flight when its isolate died beside others: it runs alone from then on. */
export const SUSPECT_HEADER = 'x-rabbit-worker-suspect';

let nextId = 1;

/**
 * The number of this delivery: 1 the first time. Attempts that moved the message to a copy (a retry, a
 * recount, a suspect requeue) are carried in {@link ATTEMPTS_HEADER}; returns of this copy are counted
 * by the broker on quorum queues (`x-delivery-count`), and seen as `redelivered` on classic ones.
 */
export function attemptOf(message: ConsumeMessage, queueType: QueueType): number {
  const headers: MessagePropertyHeaders = message.properties.headers ?? {};
  const carried = Number(headers[ATTEMPTS_HEADER] ?? 0);
  const previous = Number.isFinite(carried) && carried > 0 ? carried : 0;
  if (queueType === 'quorum') {
    const count = Number(headers['x-delivery-count'] ?? 0);
    return previous + 1 + (Number.isFinite(count) && count > 0 ? count : 0);
  }
  return previous + 1 + (message.fields.redelivered ? 1 : 0);
}

function plainProperties(message: ConsumeMessage): MessageProperties {
  const p = message.properties;
  const out: MessageProperties = { headers: (p.headers ?? {}) as Record<string, unknown> };
  if (p.messageId !== undefined) out.messageId = String(p.messageId);
  if (p.correlationId !== undefined) out.correlationId = String(p.correlationId);
  if (p.contentType !== undefined) out.contentType = String(p.contentType);
  if (p.contentEncoding !== undefined) out.contentEncoding = String(p.contentEncoding);
  if (p.timestamp !== undefined) out.timestamp = Number(p.timestamp);
  if (p.type !== undefined) out.type = String(p.type);
  if (p.appId !== undefined) out.appId = String(p.appId);
  if (p.replyTo !== undefined) out.replyTo = String(p.replyTo);
  if (p.priority !== undefined) out.priority = Number(p.priority);
  if (p.expiration !== undefined) out.expiration = String(p.expiration);
  if (p.deliveryMode !== undefined) out.deliveryMode = Number(p.deliveryMode);
  return out;
}

/** A delivery as the main thread holds it: the AMQP message, the session it came on, and its fate. */
export class Delivery {
  readonly id = nextId++;
  readonly data: DeliveryData;
  settlement: Settlement | undefined;
  /** Set once its callback was interrupted: from then on `shutdown()`, not the callback's end, decides. */
  interrupted = false;
  /** When its callback started. */
  startedAt = 0;
  /** When its deadline passed and its signal was aborted. */
  abortedAt: number | undefined;
  warnedLong = false;
  /** It was in flight when its isolate died beside others: it runs alone, to tell the culprit apart. */
  readonly suspect: boolean;
  /** Its isolate just died beside others: a nack requeues it as a suspect, that attempt not counted. */
  requeueAsSuspect = false;

  constructor(
    readonly message: ConsumeMessage,
    readonly session: BrokerSession,
    queue: string,
    queueType: QueueType,
    /** 1 when this redelivery was caused by our own connection loss, not by a crash. */
    discount = 0,
  ) {
    this.suspect = message.properties.headers?.[SUSPECT_HEADER] === true;
    this.data = {
      id: this.id,
      body: message.content,
      queue,
      exchange: message.fields.exchange,
      routingKey: message.fields.routingKey,
      redelivered: message.fields.redelivered,
      attempt: Math.max(1, attemptOf(message, queueType) - discount),
      properties: plainProperties(message),
    };
  }

  get tag(): number {
    return this.message.fields.deliveryTag;
  }
}
