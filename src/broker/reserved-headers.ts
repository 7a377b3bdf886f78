import { ErrorCode, RabbitWorkerError } from '../errors.js';

/** rabbit-worker's own headers (attempts, suspects, dead-letter reasons) start with this. */
export const OWN_HEADER_PREFIX = 'x-rabbit-worker-';

/** Headers that the broker sets when it counts or dead-letters a message. */
const BROKER_HEADERS = new Set(['x-delivery-count', 'x-death']);
const BROKER_HEADER_PREFIXES = ['x-first-death-', 'x-last-death-'];

/** True for a header only rabbit-worker or the broker may set. */
export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower.startsWith(OWN_HEADER_PREFIX) || BROKER_HEADERS.has(lower) || BROKER_HEADER_PREFIXES.some((p) => lower.startsWith(p));
}

/**
 * Refuses application headers that would pass for the framework's or the broker's own bookkeeping: a
 * publisher setting `x-rabbit-worker-attempts: 999` or `x-delivery-count` would send a healthy message to
 * the dead-letter queue unrun (the worker does not trust them anyway, see docs/operations.md).
 */
export function checkHeaders(headers: Record<string, unknown> | undefined): void {
  if (headers === undefined) return;
  const reserved = Object.keys(headers).filter(isReservedHeader);
  if (reserved.length > 0) {
    throw new RabbitWorkerError(ErrorCode.RESERVED_HEADER, `publish(): header ${reserved.map((h) => `"${h}"`).join(', ')} is reserved for rabbit-worker and the broker; use another name`);
  }
}

/** A copy of `headers` without the broker's counting and dead-lettering history (x-delivery-count, x-death, …). */
export function withoutBrokerHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(headers ?? {})) {
    const lower = key.toLowerCase();
    if (BROKER_HEADERS.has(lower) || BROKER_HEADER_PREFIXES.some((p) => lower.startsWith(p))) continue;
    out[key] = value;
  }
  return out;
}
