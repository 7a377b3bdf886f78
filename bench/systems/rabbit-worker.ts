/**
 * rabbit-worker as users run it: a real `rabbit-worker run <file>` process (bin → dist), with flags for the
 * queue, prefetch, isolation and queue type, and `--max-messages` so that it exits by itself. Its JSON log
 * says `consuming <queue>` once consuming and `stopping (max-messages) …` right after the last message was
 * settled — the ack leaves in the same event-loop turn (AckBatcher's setImmediate).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jsonLine } from '../lib/children.js';
import type { ChildCommand, ConsumerJob, System } from './types.js';

/** This checkout. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RABBIT_WORKER_BIN = `${ROOT}bin/rabbit-worker.js`;
const worker = (name: string, root = ROOT): string => join(root, 'bench/workers', name);

/** The compile cache of a checkout's workers (bench/workers/*.ts compile into it). */
export const compileCacheOf = (root: string): string => join(root, 'node_modules/.cache/rabbit-worker');

/**
 * Another way to run the same worker: another checkout (`--base`, e.g. main, built), or this one with its
 * compile cache emptied before each start (the first start after a deploy without `rabbit-worker prepare`).
 */
export interface RabbitWorkerVariant {
  id: string;
  label: string;
  /** The checkout whose bin and bench worker run. @default this one */
  root?: string;
  /** Empty the compile cache before each start. @default false */
  coldCache?: boolean;
}

const message = (line: string): string => {
  const parsed = jsonLine(line);
  return typeof parsed?.msg === 'string' ? parsed.msg : '';
};

export function rabbitWorkerArgs(job: ConsumerJob, isolation: 'thread' | 'none', root = ROOT, file = worker(job.mode === 'latency' ? 'latency-worker.ts' : 'drain-worker.ts', root), metrics = true): string[] {
  return [
    join(root, 'bin/rabbit-worker.js'),
    'run',
    file,
    '--queue',
    job.queue,
    '--prefetch',
    String(job.prefetch),
    '--queue-type',
    job.queueType,
    '--isolation',
    isolation,
    '--max-messages',
    String(job.messages),
    '--url',
    job.amqpUrl,
    ...(metrics ? [] : ['--metrics', 'off']),
  ];
}

export function rabbitWorkerEnv(job: ConsumerJob): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    ...(job.outFile !== undefined ? { BENCH_LATENCY_OUT: job.outFile, BENCH_LATENCY_COUNT: String(job.messages) } : {}),
  };
}

/**
 * The defaults with metrics off (`--metrics off`): paired with `rw-thread` (metrics on, the default) it
 * measures what the per-message bookkeeping of the metrics costs. Drain only.
 */
export const rabbitWorkerNoMetricsSystem: System = {
  id: 'rw-nometrics',
  label: 'rabbit-worker (defaults, metrics off)',
  backend: 'rabbitmq',
  latency: false,
  command: (job): ChildCommand => ({ command: process.execPath, args: rabbitWorkerArgs(job, 'thread', ROOT, undefined, false), env: rabbitWorkerEnv(job) }),
  isConsuming: (line) => message(line).startsWith('consuming '),
  isDone: (line) => message(line).startsWith('stopping (max-messages)'),
};

export function rabbitWorkerSystem(isolation: 'thread' | 'none', variant?: RabbitWorkerVariant): System {
  const root = variant?.root ?? ROOT;
  return {
    id: variant?.id ?? (isolation === 'thread' ? 'rw-thread' : 'rw-none'),
    label: variant?.label ?? (isolation === 'thread' ? 'rabbit-worker (defaults: isolation thread)' : 'rabbit-worker (isolation none)'),
    backend: 'rabbitmq',
    latency: true,
    command: (job): ChildCommand => {
      if (variant?.coldCache === true) rmSync(compileCacheOf(root), { recursive: true, force: true });
      return { command: process.execPath, args: rabbitWorkerArgs(job, isolation, root), env: rabbitWorkerEnv(job) };
    },
    isConsuming: (line) => message(line).startsWith('consuming '),
    isDone: (line) => message(line).startsWith('stopping (max-messages)'),
  };
}
