import type { WorkerSettings } from './options.js';

/** Retries are spread over up to this fraction below their delay, so that failures do not retry in lockstep. */
export const RETRY_JITTER = 0.2;

type Schedule = Pick<WorkerSettings, 'retryDelayMs' | 'retryBackoff' | 'retryMaxDelayMs'>;

/** The delay before retrying after failed attempt `attempt` (1-based): exponential, capped. 0 = at once. */
export function retryDelayFor(attempt: number, schedule: Schedule): number {
  if (schedule.retryDelayMs <= 0) return 0;
  const delay = schedule.retryDelayMs * schedule.retryBackoff ** Math.max(0, attempt - 1);
  return Math.round(Math.min(schedule.retryMaxDelayMs, delay));
}

/**
 * The message's own TTL in a retry queue of `delay` ms: up to {@link RETRY_JITTER} shorter. Only shorter,
 * because RabbitMQ expires messages at the head of a queue only: one with a shorter TTL behind a longer
 * one waits for it, which bounds the extra wait by the jitter itself.
 */
export function jittered(delay: number, random: () => number = Math.random): number {
  return Math.max(1, Math.round(delay * (1 - RETRY_JITTER * random())));
}
