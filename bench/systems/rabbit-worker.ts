/**
 * rabbit-worker as users run it: a real `rabbit-worker run <file>` process (bin → dist), with flags for the
 * queue, prefetch, isolation and queue type, and `--max-messages` so that it exits by itself. Its JSON log
 * says `consuming <queue>` once consuming and `stopping (max-messages) …` right after the last message was
 * settled — the ack leaves in the same event-loop turn (AckBatcher's setImmediate).
 */
import { fileURLToPath } from 'node:url';
import { jsonLine } from '../lib/children.js';
import type { ChildCommand, ConsumerJob, System } from './types.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
export const RABBIT_WORKER_BIN = `${root}bin/rabbit-worker.js`;
const worker = (name: string): string => fileURLToPath(new URL(`../workers/${name}`, import.meta.url));

const message = (line: string): string => {
  const parsed = jsonLine(line);
  return typeof parsed?.msg === 'string' ? parsed.msg : '';
};

export function rabbitWorkerArgs(job: ConsumerJob, isolation: 'thread' | 'none', file = worker(job.mode === 'latency' ? 'latency-worker.ts' : 'drain-worker.ts'), metrics = true): string[] {
  return [
    RABBIT_WORKER_BIN,
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
  command: (job): ChildCommand => ({ command: process.execPath, args: rabbitWorkerArgs(job, 'thread', undefined, false), env: rabbitWorkerEnv(job) }),
  isConsuming: (line) => message(line).startsWith('consuming '),
  isDone: (line) => message(line).startsWith('stopping (max-messages)'),
};

export function rabbitWorkerSystem(isolation: 'thread' | 'none'): System {
  return {
    id: isolation === 'thread' ? 'rw-thread' : 'rw-none',
    label: isolation === 'thread' ? 'rabbit-worker (defaults: isolation thread)' : 'rabbit-worker (isolation none)',
    backend: 'rabbitmq',
    latency: true,
    command: (job): ChildCommand => ({ command: process.execPath, args: rabbitWorkerArgs(job, isolation), env: rabbitWorkerEnv(job) }),
    isConsuming: (line) => message(line).startsWith('consuming '),
    isDone: (line) => message(line).startsWith('stopping (max-messages)'),
  };
}
