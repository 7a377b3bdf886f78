import type { Isolation, QueueType } from '../src/worker/options.js';
import type { ChaosBody } from './workers/chaos-worker.js';

/** One worker type of the run, with the queue it consumes. */
export interface ChaosType {
  name: string;
  queue: string;
  queueType: QueueType;
  isolation: Isolation;
  prefetch: number;
  processes: number;
  /** Whether it gets heap-exhausting messages: only heap-limited isolates can survive them. */
  poison: boolean;
}

/**
 * Three types that differ where failures differ: a quorum queue with thread isolation (the default), a
 * classic queue (rabbit-worker counts its attempts itself) with thread isolation, and callbacks on the
 * main thread (`isolation: 'none'`, no poison: heap exhaustion would kill the process by design).
 */
export function chaosTypes(runId: string): ChaosType[] {
  return [
    { name: 'alpha', queue: `chaos-${runId}-alpha`, queueType: 'quorum', isolation: 'thread', prefetch: 50, processes: 2, poison: true },
    { name: 'beta', queue: `chaos-${runId}-beta`, queueType: 'classic', isolation: 'thread', prefetch: 100, processes: 2, poison: true },
    { name: 'gamma', queue: `chaos-${runId}-gamma`, queueType: 'quorum', isolation: 'none', prefetch: 20, processes: 2, poison: false },
  ];
}

/** Message `n` goes to type `n mod 3`. */
export function typeOfNumber(types: ChaosType[], n: number): ChaosType {
  return types[n % types.length] as ChaosType;
}

/** Poison message `k` goes to the heap-limited types in turn. */
export function typeOfPoison(types: ChaosType[], k: number): ChaosType {
  const targets = types.filter((t) => t.poison);
  return targets[k % targets.length] as ChaosType;
}

export const numberId = (n: number): string => `n-${n}`;
export const poisonId = (k: number): string => `poison-${k}`;
export const encode = (body: ChaosBody): Buffer => Buffer.from(JSON.stringify(body));
