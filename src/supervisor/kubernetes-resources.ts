import { SPARE_MEMORY_UNIT_MB, type WorkerSettings } from '../worker/options.js';
import { STOP_MARGIN_SECONDS } from './config.js';

/** Main thread of a worker process: Node itself, amqplib, pino, tsx and the worker's module graph. */
export const MAIN_THREAD_MB = 128;
/**
 * What an isolate holds beyond `maxOldGenerationSizeMb`, which only caps its old generation: the young
 * generation, code space and the thread's stack.
 */
export const ISOLATE_OVERHEAD_MB = 32;
/** Memory figures are rounded up to this, so that small setting changes do not churn the manifests. */
export const MEMORY_STEP_MB = 64;
/** CPU request of every container; there is no CPU limit (see {@link podResources}). */
export const CPU_REQUEST = '100m';
/** Added to `stopTimeout` + STOP_MARGIN_SECONDS: the kubelet's SIGKILL must come after the worker's own deadline. */
export const GRACE_EXTRA_SECONDS = 5;

const roundUp = (mb: number): number => Math.ceil(mb / MEMORY_STEP_MB) * MEMORY_STEP_MB;

/** Callback isolates per process: `threads` when a worker sets it (default 1), none with `isolation: 'none'`. */
function isolates(settings: WorkerSettings): number {
  if (settings.isolation === 'none') return 0;
  const threads = (settings as Partial<Record<'threads', unknown>>).threads;
  return typeof threads === 'number' && Number.isInteger(threads) && threads > 0 ? threads : 1;
}

/** Memory and CPU of one worker container, derived from its effective settings. */
export interface PodResources {
  /** Memory limit in MiB: past it the kernel kills the container, so it covers every heap the worker may fill. */
  limitMb: number;
  /** Memory request in MiB: what the scheduler reserves, the worker's usual footprint. */
  requestMb: number;
  cpuRequest: string;
}

/**
 * The resources of one worker container.
 *
 * Limit = main thread (128) + per callback isolate (`memoryLimitMb` + 32) + the spare isolate that runs
 * `shutdown()` after an isolate exhausted its heap (`spareMemoryMultiplier` × 32 + 32), rounded up to 64 MiB.
 * With `isolation: 'none'` callbacks share the main thread's heap, which the worker checks against
 * `memoryLimitMb` between messages: limit = 128 + `memoryLimitMb`. Each term is the most that part may
 * hold, so the kernel's OOM killer (which no `shutdown()` survives) is not reached before the worker's own
 * guards (heap limit of the isolate, memory check between messages).
 *
 * Request = main thread + half of the callback heaps: an isolate reaches its limit only at its worst, and
 * the spare isolate is idle unless a callback died; asking for the whole limit would leave nodes mostly idle.
 *
 * CPU: a request (a fair share under contention) but no limit. A CFS quota throttles the whole process,
 * heartbeats and probes included, in 100 ms periods; a worker that bursts through a message would stall
 * for the rest of the period, which only adds latency, and KEDA adds replicas when the backlog grows anyway.
 */
export function podResources(settings: WorkerSettings): PodResources {
  const n = isolates(settings);
  if (n === 0) {
    return { limitMb: roundUp(MAIN_THREAD_MB + settings.memoryLimitMb), requestMb: roundUp(MAIN_THREAD_MB + settings.memoryLimitMb / 2), cpuRequest: CPU_REQUEST };
  }
  const callbacks = n * (settings.memoryLimitMb + ISOLATE_OVERHEAD_MB);
  const spare = settings.spareMemoryMultiplier * SPARE_MEMORY_UNIT_MB + ISOLATE_OVERHEAD_MB;
  return {
    limitMb: roundUp(MAIN_THREAD_MB + callbacks + spare),
    requestMb: roundUp(MAIN_THREAD_MB + (n * settings.memoryLimitMb) / 2),
    cpuRequest: CPU_REQUEST,
  };
}

/**
 * `terminationGracePeriodSeconds`: the worker's `stopTimeout` for in-flight callbacks, the margin the
 * other process managers give `shutdown()` and closing (STOP_MARGIN_SECONDS), and a few seconds more, so
 * that the kubelet never SIGKILLs a worker that is still within its own deadlines. An explicit
 * `stopWaitSeconds` in the config file is honoured when it is longer: the grace period is an upper bound,
 * and a worker that stops sooner ends its pod sooner.
 */
export function gracePeriodSeconds(settings: WorkerSettings, stopWaitSeconds = 0): number {
  return Math.ceil(Math.max(settings.stopTimeout + STOP_MARGIN_SECONDS, stopWaitSeconds)) + GRACE_EXTRA_SECONDS;
}
