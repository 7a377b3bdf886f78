import type { DeadLetterReason } from '../metrics/names.js';

/**
 * What a callback decided for a message. A reject's `cause` is the fixed category of its reason, for the
 * `rabbit_worker_dead_lettered_total{reason}` metric (`rejected` when none is given).
 */
export type Settlement =
  | { kind: 'ack' }
  | { kind: 'nack' }
  | { kind: 'retry'; delayMs?: number }
  | { kind: 'reject'; reason: string; cause?: DeadLetterReason };

/** Receives a message's settlement; the main thread's delivery, or a link to it from an isolate. */
export type SettleFn = (settlement: Settlement) => void;

/** The part of an AMQP delivery that a callback sees; plain data, so that it crosses threads. */
export interface DeliveryData {
  /** Unique within the process (delivery tags are only unique within a channel). */
  id: number;
  body: Uint8Array;
  queue: string;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
  attempt: number;
  properties: MessageProperties;
}

/** AMQP basic properties, with `headers` always present. */
export interface MessageProperties {
  headers: Record<string, unknown>;
  messageId?: string;
  correlationId?: string;
  contentType?: string;
  contentEncoding?: string;
  timestamp?: number;
  type?: string;
  appId?: string;
  replyTo?: string;
  priority?: number;
  expiration?: string;
  deliveryMode?: number;
}
