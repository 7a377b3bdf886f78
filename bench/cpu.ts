/**
 * CPU-bound callbacks, threads vs processes (issue 10, "threads per process"): a queue of N messages, each
 * of which costs ~cpuMs of synchronous CPU in the callback (bench/workers/cpu-worker.ts, the work calibrated
 * once here), drained by
 *  (a) `threads`: ONE `rabbit-worker run --threads 2` process, prefetch 10;
 *  (b) `processes`: TWO `rabbit-worker run --threads 1` processes on the same queue, prefetch 10 each;
 * alternating in every round. Throughput = N ÷ (the Nth `cpu settled` line, counted over all processes −
 * the first `consuming` line); RSS = the largest sum over the process trees, sampled every 500 ms while busy.
 */
import { performance } from 'node:perf_hooks';
import type { BenchOptions } from './lib/args.js';
import type { BrokerAdmin } from './lib/broker.js';
import { jsonLine, spawnChild, type Spawned } from './lib/children.js';
import { cpuMs, processTree, rssMb } from './lib/proc.js';
import { rabbitWorkerArgs, rabbitWorkerEnv, ROOT } from './systems/rabbit-worker.js';
import type { ConsumerJob } from './systems/types.js';
import { burn } from './workers/cpu-worker.js';

export type CpuMode = 'threads' | 'processes';

/** The two ways of using 2 cores that the section compares, in the order they alternate. */
export const CPU_MODES: Array<{ mode: CpuMode; label: string; processes: number; threads: number }> = [
  { mode: 'threads', label: '1 process, --threads 2', processes: 1, threads: 2 },
  { mode: 'processes', label: '2 processes, --threads 1', processes: 2, threads: 1 },
];

const PREFETCH = 10;
const RSS_EVERY_MS = 500;
const WORKER = `${ROOT}bench/workers/cpu-worker.ts`;

export interface CpuCalibration {
  /** ms of CPU each callback is meant to burn */
  targetMs: number;
  /** iterations of the work that take that long in the driver */
  iterations: number;
  /** µs per iteration, the fastest of the timing runs */
  iterationUs: number;
}

export interface CpuSample {
  mode: CpuMode;
  round: number;
  messages: number;
  /** spawn → the last process consuming */
  startMs: number;
  /** the first `consuming` → the Nth `cpu settled` */
  drainMs: number;
  msgsPerSecond: number;
  /** the largest sum of VmRSS over the processes (and their descendants), sampled while busy */
  maxRssMb: number;
  rssSamples: number;
  /** CPU time of the processes (and their threads) from all consuming to the Nth settled, summed, ÷ N: what a message really cost */
  cpuMsPerMessage: number;
  error?: string;
}

interface Context {
  admin: BrokerAdmin;
  options: BenchOptions;
  cwd: string;
}

/** Times the callback's work in this process: iterations for `targetMs`, from the fastest of several runs. */
export function calibrate(targetMs: number): CpuCalibration {
  burn(300); // warm-up: JIT, OpenSSL's first use
  const probe = 200;
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 25; i++) {
    const t0 = performance.now();
    burn(probe);
    best = Math.min(best, (performance.now() - t0) / probe);
  }
  return { targetMs, iterations: Math.max(1, Math.round(targetMs / best)), iterationUs: best * 1000 };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const msgOf = (line: string): string => {
  const m = jsonLine(line)?.msg;
  return typeof m === 'string' ? m : '';
};

async function cpuOnce(spec: (typeof CPU_MODES)[number], round: number, calibration: CpuCalibration, ctx: Context): Promise<CpuSample> {
  const n = ctx.options.cpuMessages;
  const sample: CpuSample = { mode: spec.mode, round, messages: n, startMs: Number.NaN, drainMs: Number.NaN, msgsPerSecond: Number.NaN, maxRssMb: Number.NaN, rssSamples: 0, cpuMsPerMessage: Number.NaN };
  const queue = await ctx.admin.createQueue('quorum', `cpu-${spec.mode}`);
  const children: Spawned[] = [];
  let sampling = false;
  let sampler: Promise<void> | undefined;
  try {
    await ctx.admin.fill(queue, n);
    // --max-messages 0: the processes do not stop by themselves (with two consumers the split is not known
    // in advance); the driver counts the settled lines of all of them and stops them after the Nth.
    const job: ConsumerJob = { mode: 'drain', queue, queueType: 'quorum', prefetch: PREFETCH, messages: 0, amqpUrl: ctx.options.amqpUrl, redisPort: ctx.options.redisPort };
    const env = { ...rabbitWorkerEnv(job), BENCH_CPU_ITERATIONS: String(calibration.iterations) };
    let settled = 0;
    let lastAt = Number.NaN;
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    const consumed: Array<Promise<number>> = [];
    for (let i = 0; i < spec.processes; i++) {
      const child = spawnChild(process.execPath, [...rabbitWorkerArgs(job, 'thread', ROOT, WORKER), '--threads', String(spec.threads)], env, ctx.cwd);
      children.push(child);
      consumed.push(child.waitFor((line) => msgOf(line).startsWith('consuming '), 60_000, `${spec.mode}: process ${i + 1} consuming`).then((e) => e.at));
      // Every line passes this predicate once; it never matches, it counts (and times the Nth).
      child
        .waitFor(
          (line) => {
            if (msgOf(line) !== 'cpu settled') return false;
            if (++settled === n) {
              lastAt = performance.now();
              resolveDone();
            }
            return false;
          },
          24 * 3600_000,
          'never',
        )
        .catch(() => {}); // rejects when the process exits: expected
    }
    const starts = await Promise.all(consumed);
    const firstConsuming = Math.min(...starts);
    sample.startMs = Math.max(...starts) - Math.min(...children.map((c) => c.spawnedAt));
    const treeCpuMs = (): number => children.flatMap((c) => processTree(c.pid)).map(cpuMs).filter(Number.isFinite).reduce((a, b) => a + b, 0);
    // from here on, not the start-up (loading, compiling, connecting: ~1 s of CPU per process)
    const cpuAtConsuming = treeCpuMs();
    sampling = true;
    sampler = (async () => {
      while (sampling) {
        const total = children.flatMap((c) => processTree(c.pid)).map(rssMb).filter(Number.isFinite).reduce((a, b) => a + b, 0);
        if (total > 0) {
          sample.maxRssMb = Number.isFinite(sample.maxRssMb) ? Math.max(sample.maxRssMb, total) : total;
          sample.rssSamples++;
        }
        await sleep(RSS_EVERY_MS);
      }
    })();
    const bound = Math.max(120_000, n * calibration.targetMs * 10);
    let timer: NodeJS.Timeout | undefined;
    const exitedEarly = Promise.race(children.map((c) => c.exited.then((code) => code))).then((code) => {
      throw new Error(`a process exited (code ${code}) after ${settled} of ${n} messages`);
    });
    try {
      await Promise.race([
        done,
        exitedEarly,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${bound} ms: ${settled} of ${n} messages settled`)), bound);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      exitedEarly.catch(() => {});
    }
    sampling = false;
    sample.drainMs = lastAt - firstConsuming;
    sample.msgsPerSecond = (n / sample.drainMs) * 1000;
    sample.cpuMsPerMessage = (treeCpuMs() - cpuAtConsuming) / n;
    for (const child of children) await child.stop(10_000);
    const left = await ctx.admin.readyCount(queue);
    if (left !== 0) throw new Error(`${left} message(s) left in the queue after ${n} settled lines`);
  } catch (error) {
    sample.error = error instanceof Error ? error.message : String(error);
  } finally {
    sampling = false;
    await sampler;
    for (const child of children) await child.stop(2000);
    await ctx.admin.deleteQueue(queue).catch(() => {});
  }
  return sample;
}

export async function runCpu(ctx: Context, log: (line: string) => void): Promise<{ calibration: CpuCalibration; samples: CpuSample[] }> {
  const calibration = calibrate(ctx.options.cpuMs);
  log(`cpu: ${calibration.iterations} iterations of SHA-256 over 4 KiB ≈ ${calibration.targetMs} ms per message (${calibration.iterationUs.toFixed(2)} µs each); ${ctx.options.cpuMessages} messages, prefetch ${PREFETCH}, ${ctx.options.cpuRounds} round(s)`);
  const samples: CpuSample[] = [];
  for (let round = 1; round <= ctx.options.cpuRounds; round++) {
    for (const spec of CPU_MODES) {
      const s = await cpuOnce(spec, round, calibration, ctx);
      samples.push(s);
      log(
        s.error === undefined
          ? `cpu round ${round} ${spec.mode.padEnd(9)} ${s.msgsPerSecond.toFixed(1)} msgs/s (drain ${s.drainMs.toFixed(0)} ms, start ${s.startMs.toFixed(0)} ms)  max RSS ${s.maxRssMb.toFixed(1)} MB over ${s.rssSamples} samples  CPU ${s.cpuMsPerMessage.toFixed(2)} ms/msg`
          : `cpu round ${round} ${spec.mode} FAILED: ${s.error}`,
      );
    }
  }
  return { calibration, samples };
}
