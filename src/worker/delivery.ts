import type { ConsumeMessage } from 'amqplib';
import type { BrokerSession } from '../broker/session.js';
import type { Assessment } from './attempt-policy.js';
import type { DeliveryData, MessageProperties, Settlement } from './settlement.js';

let nextId = 1;

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
  /** When its callback started (clock ms); 0 until then. */
  startedAt = 0;
  /** When its deadline passed and its signal was aborted. */
  abortedAt: number | undefined;
  warnedLong = false;
  /** It was in flight when its isolate died beside others: it runs alone, to tell the culprit apart. */
  readonly suspect: boolean;
  /** Its isolate just died beside others: a nack requeues it as a suspect, that attempt not counted. */
  requeueAsSuspect = false;
  /** Its isolate was replaced for another message's sake: a nack requeues it without counting that attempt. */
  requeueUncounted = false;
  /**
   * It killed its isolate alone (out of memory, a crash): a nack requeues it counted and marked, so that its
   * next delivery runs in the quarantine isolate and cannot take the messages of a shared isolate with it.
   */
  requeueAsCulprit = false;

  constructor(
    readonly message: ConsumeMessage,
    readonly session: BrokerSession,
    queue: string,
    readonly assessment: Assessment,
  ) {
    this.suspect = assessment.suspect;
    this.data = {
      id: this.id,
      body: message.content,
      queue,
      exchange: message.fields.exchange,
      routingKey: message.fields.routingKey,
      redelivered: message.fields.redelivered,
      attempt: assessment.attempt,
      properties: plainProperties(message),
    };
  }

  get tag(): number {
    return this.message.fields.deliveryTag;
  }

  get messageId(): string | undefined {
    return this.data.properties.messageId;
  }
}
