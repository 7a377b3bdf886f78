import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ConfigError } from '../errors.js';
import type { PayloadSchema } from './payload-schema.js';
import type { QueueType } from './topology.js';

/** Marks queue definitions, also across two copies of the package. */
const QUEUE_DEFINITION = Symbol.for('rabbit-worker.QueueDefinition');

/** RabbitMQ's own bound for `x-max-priority`; it advises 1–10, since every level costs it memory and CPU. */
export const MAX_PRIORITY_LIMIT = 255;

/** What {@link defineQueue} takes. */
export interface QueueDefinitionOptions<S extends PayloadSchema | undefined, R extends PayloadSchema | undefined> {
  /** The queue's name: what the worker consumes and the publisher sends to. */
  name: string;
  /**
   * The payload's schema (any Standard Schema library: zod, valibot, arktype, …). The worker validates
   * every body against it before the callback; the publisher before the message leaves the process.
   * @default none: the payload is `unknown` and nothing is validated
   */
  schema?: S;
  /** The schema of what the worker replies to `request()`: it types the reply, and `request()` checks it. @default none */
  reply?: R;
  /** Overrides the worker's `queueType` when the worker consumes this definition. @default the worker's (`quorum`) */
  queueType?: QueueType;
  /**
   * Priorities 0…maxPriority for this queue (RabbitMQ's `x-max-priority`; classic queues only). Publishing
   * with a `priority` needs a definition that has it. @default none: `priority` is refused
   */
  maxPriority?: number;
}

/**
 * One queue, described once and imported by both sides: the worker (`this.setQueue(definition)`) and the
 * application (`publisher.to(definition)`), so that the payload's type is written once, in its schema.
 */
export interface QueueDefinition<S extends PayloadSchema | undefined = PayloadSchema | undefined, R extends PayloadSchema | undefined = PayloadSchema | undefined> {
  readonly name: string;
  readonly schema: S;
  readonly reply: R;
  readonly queueType: QueueType | undefined;
  readonly maxPriority: number | undefined;
}

/** A queue definition of any payload. */
export type AnyQueueDefinition = QueueDefinition<PayloadSchema | undefined, PayloadSchema | undefined>;

/** The payload a callback receives from queue definition `Q` (the schema's output type). */
export type PayloadOf<Q> = Q extends QueueDefinition<infer S, PayloadSchema | undefined> ? (S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : unknown) : unknown;
/** The payload an application publishes to queue definition `Q` (the schema's input type). */
export type PayloadInputOf<Q> = Q extends QueueDefinition<infer S, PayloadSchema | undefined> ? (S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : unknown) : unknown;
/** What the worker of `Q` replies to a request, as `request()` resolves it. */
export type ReplyOf<Q> = Q extends QueueDefinition<PayloadSchema | undefined, infer R> ? (R extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<R> : unknown) : unknown;
/** What the worker of `Q` may reply (the reply schema's input type). */
export type ReplyInputOf<Q> = Q extends QueueDefinition<PayloadSchema | undefined, infer R> ? (R extends StandardSchemaV1 ? StandardSchemaV1.InferInput<R> : unknown) : unknown;

const isSchema = (value: unknown): value is PayloadSchema =>
  typeof value === 'object' && value !== null && typeof (value as { '~standard'?: { validate?: unknown } })['~standard']?.validate === 'function';

/**
 * Describes a queue and its payload once, for the worker and the application:
 *
 * ```ts
 * import { z } from 'zod';
 * import { defineQueue } from 'rabbit-worker';
 *
 * export const resizeImage = defineQueue({
 *   name: 'resize-image',
 *   schema: z.object({ id: z.number(), width: z.number().int().positive() }),
 * });
 * ```
 * Throws a {@link ConfigError} naming the bad field.
 */
export function defineQueue<S extends PayloadSchema | undefined = undefined, R extends PayloadSchema | undefined = undefined>(options: QueueDefinitionOptions<S, R>): QueueDefinition<S, R> {
  const { name, schema, reply, queueType, maxPriority } = options;
  if (typeof name !== 'string' || name.length === 0 || name.length > 255) throw new ConfigError(`defineQueue(): name must be a string of 1 to 255 characters, got ${JSON.stringify(name)}`);
  if (schema !== undefined && !isSchema(schema)) throw new ConfigError(`defineQueue("${name}"): schema is not a Standard Schema (zod ≥ 3.24, valibot ≥ 1, arktype ≥ 2 implement it)`);
  if (reply !== undefined && !isSchema(reply)) throw new ConfigError(`defineQueue("${name}"): reply is not a Standard Schema`);
  if (queueType !== undefined && queueType !== 'quorum' && queueType !== 'classic') throw new ConfigError(`defineQueue("${name}"): queueType must be "quorum" or "classic", got ${JSON.stringify(queueType)}`);
  if (maxPriority !== undefined) {
    if (!Number.isInteger(maxPriority) || maxPriority < 1 || maxPriority > MAX_PRIORITY_LIMIT) throw new ConfigError(`defineQueue("${name}"): maxPriority must be an integer from 1 to ${MAX_PRIORITY_LIMIT}, got ${maxPriority}`);
    if (queueType !== 'classic') throw new ConfigError(`defineQueue("${name}"): maxPriority needs queueType: 'classic' (RabbitMQ ignores priorities on quorum queues before 4.0)`);
  }
  const definition: QueueDefinition<S, R> = { name, schema: schema as S, reply: reply as R, queueType, maxPriority };
  Object.defineProperty(definition, QUEUE_DEFINITION, { value: true });
  return Object.freeze(definition);
}

/** True for what {@link defineQueue} returned. */
export function isQueueDefinition(value: unknown): value is AnyQueueDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[QUEUE_DEFINITION] === true;
}
