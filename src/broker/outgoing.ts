import { randomUUID } from 'node:crypto';
import type { Options } from 'amqplib';
import { ErrorCode, InvalidPayloadError, RabbitWorkerError } from '../errors.js';
import { checkPayload, describePayloadIssues } from './payload-schema.js';
import { isQueueDefinition, type AnyQueueDefinition } from './queue-definition.js';
import { checkHeaders } from './reserved-headers.js';

/** Options of one `publish()`. */
export interface PublishOptions {
  /** @default a random UUID; the worker sees it as `message.messageId`, the key for idempotent callbacks */
  messageId?: string;
  /** Your headers. Names starting with `x-rabbit-worker-`, and the broker's `x-delivery-count`/`x-death`, are refused (RESERVED_HEADER). */
  headers?: Record<string, unknown>;
  correlationId?: string;
  /**
   * 0 (lowest) to the queue's `maxPriority`: higher-priority messages are delivered first. Only for a queue
   * definition that has `maxPriority` (a classic queue declared with `x-max-priority`): anywhere else RabbitMQ
   * ignores it, so it is refused (PRIORITY_UNSUPPORTED). @default none (0)
   */
  priority?: number;
  /** Per-message TTL in ms. */
  expiration?: number;
  /** Survives a broker restart. @default true */
  persistent?: boolean;
  /**
   * Deliver after this many ms, through the shared delay levels (no plugin, no queue per delay): rounded up
   * to whole seconds, at most 2^28 − 1 s. The message never arrives earlier than asked.
   */
  delayMs?: number;
}

/** A message ready to go: where, what, with which properties. */
export interface Outgoing {
  queue: string;
  body: Buffer;
  properties: Options.Publish & { messageId: string; headers: Record<string, unknown> };
}

/** Buffers go as they are; anything else as JSON. */
function encode(payload: unknown): { body: Buffer; contentType: string } {
  if (Buffer.isBuffer(payload)) return { body: payload, contentType: 'application/octet-stream' };
  if (payload instanceof Uint8Array) return { body: Buffer.from(payload), contentType: 'application/octet-stream' };
  const json = JSON.stringify(payload);
  if (json === undefined) throw new TypeError('publish(): payload cannot be encoded as JSON');
  return { body: Buffer.from(json), contentType: 'application/json' };
}

/** Priorities only where RabbitMQ honours them: a queue definition that declares `maxPriority`. */
function checkPriority(queue: string, definition: AnyQueueDefinition | undefined, priority: number | undefined): void {
  if (priority === undefined) return;
  const max = definition?.maxPriority;
  if (max === undefined) {
    throw new RabbitWorkerError(
      ErrorCode.PRIORITY_UNSUPPORTED,
      `publish(): priority needs a queue definition with maxPriority, e.g. defineQueue({ name: '${queue}', queueType: 'classic', maxPriority: 10 }) used by the worker and the publisher; RabbitMQ ignores priorities on quorum queues and on queues declared without x-max-priority`,
    );
  }
  if (!Number.isInteger(priority) || priority < 0 || priority > max) throw new RangeError(`publish(): priority must be an integer from 0 to ${max} (maxPriority of "${queue}"), got ${priority}`);
}

/**
 * Checks and encodes one message: reserved headers, delay, priority, and — for a queue definition with a
 * schema — the payload against it (once; asynchronous schemas allowed), so that an invalid message never
 * leaves the process (INVALID_PAYLOAD, every failing path named). The payload goes as it was given: the
 * worker validates it again, and its schema's transforms apply there.
 */
export async function prepareOutgoing(target: string | AnyQueueDefinition, payload: unknown, options: PublishOptions, extra: Options.Publish = {}): Promise<Outgoing> {
  const definition = isQueueDefinition(target) ? target : undefined;
  const queue = definition?.name ?? (target as string);
  const { delayMs } = options;
  if (delayMs !== undefined && (!Number.isInteger(delayMs) || delayMs < 0)) throw new RangeError(`publish(): delayMs must be an integer >= 0 (0: at once), got ${delayMs}`);
  checkHeaders(options.headers);
  checkPriority(queue, definition, options.priority);
  if (definition?.schema !== undefined) {
    const checked = await checkPayload(definition.schema, payload);
    if (!checked.ok) throw new InvalidPayloadError(`publish to "${queue}": ${describePayloadIssues(checked.issues)}`, checked.issues);
  }
  const { body, contentType } = encode(payload);
  return {
    queue,
    body,
    properties: {
      messageId: options.messageId ?? randomUUID(),
      contentType,
      persistent: options.persistent ?? true,
      timestamp: Math.floor(Date.now() / 1000),
      headers: { ...(options.headers ?? {}) },
      ...(options.correlationId !== undefined ? { correlationId: options.correlationId } : {}),
      ...(options.priority !== undefined ? { priority: options.priority } : {}),
      ...(options.expiration !== undefined ? { expiration: String(options.expiration) } : {}),
      ...extra,
    },
  };
}
