import type { Channel } from 'amqplib';
import { ConfigError } from '../errors.js';

/**
 * Delayed delivery without a plugin and without a queue per delay: a fixed set of shared levels, the binary
 * scheme of NServiceBus's RabbitMQ transport and Celery 5.5. Level `n` is a quorum queue whose messages all
 * live exactly `2^n` seconds (a queue-wide TTL, so expiry in arrival order is exact), then dead-letter, at
 * least once, into the exchange of level `n-1`. Each level's exchange (topic) looks at bit `n` of the routing
 * key, which spells the remaining delay in seconds as 28 words `0`/`1` (most significant first) followed by
 * the work queue's name: bit set → the level's queue (wait `2^n` s), bit clear → on to level `n-1` at once
 * (exchange-to-exchange). Below level 0 is the delivery exchange, where every work queue that accepts
 * delayed messages is bound by its name. So 28 queues serve every delay of every work queue:
 * - precision: whole seconds (a delay is rounded up: a message never arrives before it was asked to), plus
 *   the time of the hops (one per bit set, a few ms each);
 * - longest delay: 2^28 − 1 s, about 8.5 years.
 */
export const DELAY_LEVELS = 28;
export const MAX_DELAY_SECONDS = 2 ** DELAY_LEVELS - 1;
/** Prefix of every exchange and queue of the delay topology (and of the exchanges whose copies a worker trusts). */
export const DELAY_PREFIX = 'rabbit-worker.delay';
/** Where delayed messages leave the levels; each work queue is bound to it by name. */
export const DELAY_DELIVERY_EXCHANGE = `${DELAY_PREFIX}.deliver`;

/** Name of level `level`'s exchange and of its queue (exchanges and queues are separate namespaces). */
export const delayLevelName = (level: number): string => `${DELAY_PREFIX}.${String(level).padStart(2, '0')}`;

/** Every level name, 0 to 27. */
export const delayLevelNames = (): string[] => Array.from({ length: DELAY_LEVELS }, (_, level) => delayLevelName(level));

/** True for an exchange of the delay topology: messages that come through it were published by rabbit-worker. */
export const isDelayExchange = (exchange: string): boolean => exchange === DELAY_DELIVERY_EXCHANGE || exchange.startsWith(`${DELAY_PREFIX}.`);

/** A delay in ms → whole seconds, rounded up (0 stays 0: delivered at once). */
export function delaySeconds(delayMs: number): number {
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`delay must be a number of ms >= 0, got ${delayMs}`);
  const seconds = Math.ceil(delayMs / 1000);
  if (seconds > MAX_DELAY_SECONDS) throw new RangeError(`delay of ${delayMs} ms is past the longest delay (${MAX_DELAY_SECONDS} s, about 8.5 years)`);
  return seconds;
}

const WORDS = `${'*.'.repeat(DELAY_LEVELS)}`;

/**
 * Topic routing keys are words separated by dots: a work queue's name is matched word by word, so a
 * name with a wildcard word (`*`, `#`) would match other queues' messages, and the key is limited to
 * 255 bytes. Checked where a queue is bound and where a delayed message is published.
 */
export function checkDelayableQueue(queue: string): void {
  if (queue.split('.').some((word) => word === '*' || word === '#')) {
    throw new ConfigError(`queue "${queue}" cannot receive delayed messages or retries: a dot-separated part of its name is "*" or "#"`);
  }
  if (Buffer.byteLength(queue) > 255 - WORDS.length) {
    throw new ConfigError(`queue "${queue}" cannot receive delayed messages or retries: its name is longer than ${255 - WORDS.length} bytes`);
  }
}

/** `0.0.…1.0.1.<queue>`: the remaining delay, bit 27 first, then the destination. */
export function delayRoutingKey(seconds: number, queue: string): string {
  let bits = '';
  for (let level = DELAY_LEVELS - 1; level >= 0; level--) bits += Math.floor(seconds / 2 ** level) % 2 === 1 ? '1.' : '0.';
  return `${bits}${queue}`;
}

/** Where a delay enters: the level of its highest bit (each higher level would only pass it down); 0 s → the delivery exchange. */
export function entryExchange(seconds: number): string {
  if (seconds <= 0) return DELAY_DELIVERY_EXCHANGE;
  return delayLevelName(Math.min(DELAY_LEVELS - 1, Math.floor(Math.log2(seconds))));
}

/** The binding pattern that selects bit `level` with the given value. */
function bitPattern(level: number, bit: '0' | '1'): string {
  return `${'*.'.repeat(DELAY_LEVELS - 1 - level)}${bit}.#`;
}

/** Arguments of level `level`'s queue: a fixed TTL, and at-least-once dead-lettering into the level below. */
export function delayLevelArguments(level: number): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-message-ttl': 2 ** level * 1000,
    'x-dead-letter-exchange': level === 0 ? DELAY_DELIVERY_EXCHANGE : delayLevelName(level - 1),
    // at-least-once dead-lettering needs reject-publish; with no length limit nothing is ever rejected
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

/** Declares the delivery exchange and binds `queue` to it: the work queue then accepts delayed messages and retries. */
export async function bindDelayDelivery(channel: Channel, queue: string): Promise<void> {
  checkDelayableQueue(queue);
  await channel.assertExchange(DELAY_DELIVERY_EXCHANGE, 'topic', { durable: true });
  await channel.bindQueue(queue, DELAY_DELIVERY_EXCHANGE, `${WORDS}${queue}`);
}

/**
 * Declares every level (exchanges, queues, bindings), lowest first so that each dead-letter target exists
 * before its source. Idempotent; about a second the first time on a broker (28 quorum queues), a few ms
 * after that. Declared on first use, not at start: a worker whose callbacks never fail declares none.
 */
export async function declareDelayLevels(channel: Channel): Promise<void> {
  await channel.assertExchange(DELAY_DELIVERY_EXCHANGE, 'topic', { durable: true });
  for (let level = 0; level < DELAY_LEVELS; level++) {
    const name = delayLevelName(level);
    await channel.assertExchange(name, 'topic', { durable: true });
    await channel.assertQueue(name, { durable: true, arguments: delayLevelArguments(level) });
    await channel.bindQueue(name, name, bitPattern(level, '1'));
    await channel.bindExchange(level === 0 ? DELAY_DELIVERY_EXCHANGE : delayLevelName(level - 1), name, bitPattern(level, '0'));
  }
}
