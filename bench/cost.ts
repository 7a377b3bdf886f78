/**
 * Cost of one worker: cold start (spawn() → the "consuming" line, with an empty queue, connection and
 * queue declaration included) and idle RSS a few seconds after it consumes. Raw amqplib is measured the
 * same way as a reference. Then `rabbit-worker supervise` with 4 children, when that command exists.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchOptions } from './lib/args.js';
import type { BrokerAdmin } from './lib/broker.js';
import { jsonLine, spawnChild } from './lib/children.js';
import { cpuMs, processTree, rssMb } from './lib/proc.js';
import { compileCacheOf, ROOT, type RabbitWorkerVariant } from './systems/rabbit-worker.js';
import type { ConsumerJob, System } from './systems/types.js';

export interface CostSample {
  system: string;
  round: number;
  coldStartMs: number;
  /** CPU time the process used until it consumed (user + system, every thread). */
  coldStartCpuMs?: number;
  idleRssMb: number;
  error?: string;
}

export interface SupervisorCost {
  /** Which checkout and cache state (see RabbitWorkerVariant); `rw` is this checkout, cache as it is. */
  variant?: string;
  label?: string;
  round?: number;
  measured: boolean;
  note: string;
  /** spawn → the 4th child's "consuming" line */
  startMs?: number;
  /** CPU time of the supervisor and its children until then, summed */
  startCpuMs?: number;
  /** supervisor + its 4 children, summed */
  totalRssMb?: number;
  supervisorRssMb?: number;
  processes?: number;
}

interface Context {
  admin: BrokerAdmin;
  options: BenchOptions;
  cwd: string;
}

const IDLE_WAIT_MS = 5000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function coldStartOnce(system: System, round: number, ctx: Context): Promise<CostSample> {
  const sample: CostSample = { system: system.id, round, coldStartMs: Number.NaN, idleRssMb: Number.NaN };
  const queue = await ctx.admin.createQueue('quorum', `cost-${system.id}`);
  let child: ReturnType<typeof spawnChild> | undefined;
  try {
    const job: ConsumerJob = { mode: 'drain', queue, queueType: 'quorum', prefetch: 100, messages: 1_000_000_000, amqpUrl: ctx.options.amqpUrl, redisPort: ctx.options.redisPort };
    const command = system.command(job);
    child = spawnChild(command.command, command.args, command.env, ctx.cwd);
    const consuming = await child.waitFor(system.isConsuming, 60_000, `${system.id}: consuming`);
    sample.coldStartMs = consuming.at - child.spawnedAt;
    sample.coldStartCpuMs = cpuMs(child.pid);
    await sleep(IDLE_WAIT_MS);
    sample.idleRssMb = rssMb(child.pid);
  } catch (error) {
    sample.error = error instanceof Error ? error.message : String(error);
  } finally {
    await child?.stop(5000);
    await ctx.admin.deleteQueue(queue).catch(() => {});
  }
  return sample;
}

export async function runColdStarts(systems: System[], ctx: Context, log: (line: string) => void): Promise<CostSample[]> {
  const samples: CostSample[] = [];
  for (let round = 1; round <= ctx.options.coldStarts; round++) {
    for (const system of systems) {
      const s = await coldStartOnce(system, round, ctx);
      samples.push(s);
      log(s.error === undefined ? `cost round ${round} ${system.id.padEnd(16)} cold start ${s.coldStartMs.toFixed(0)} ms (CPU ${s.coldStartCpuMs?.toFixed(0)} ms)  idle RSS ${s.idleRssMb.toFixed(1)} MB` : `cost round ${round} ${system.id} FAILED: ${s.error}`);
    }
  }
  return samples;
}

function hasSupervise(bin: string, cwd: string): boolean {
  try {
    return /^\s+supervise\b/m.test(execFileSync(process.execPath, [bin, '--help'], { cwd, encoding: 'utf8', timeout: 15_000 }));
  } catch {
    return false;
  }
}

/** The supervisor runs of the cost section: this checkout, and the others alternating with it, `rounds` times. */
export async function measureSupervisors(variants: RabbitWorkerVariant[], rounds: number, ctx: Context, log: (line: string) => void): Promise<SupervisorCost[]> {
  const runs: SupervisorCost[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) runs.push({ ...(await measureSupervisor(ctx, log, variant)), variant: variant.id, label: variant.label, round });
  }
  return runs;
}

/** `rabbit-worker supervise` with one worker type of 4 processes, from a config file in a temp folder. */
export async function measureSupervisor(ctx: Context, log: (line: string) => void, variant: RabbitWorkerVariant = { id: 'rw', label: 'rabbit-worker' }): Promise<SupervisorCost> {
  const root = variant.root ?? ROOT;
  const bin = join(root, 'bin/rabbit-worker.js');
  if (!hasSupervise(bin, ctx.cwd)) return { measured: false, note: 'not measured yet: this build has no `rabbit-worker supervise` command' };
  const dir = mkdtempSync(join(tmpdir(), 'rabbit-worker-bench-supervise-'));
  const queue = await ctx.admin.createQueue('quorum', 'cost-supervise');
  let child: ReturnType<typeof spawnChild> | undefined;
  try {
    const file = join(root, 'bench/workers/drain-worker.ts');
    if (variant.coldCache === true) rmSync(compileCacheOf(root), { recursive: true, force: true });
    const config = {
      workers: { bench: { file, processes: 4, queue, queueType: 'quorum', prefetch: 100, env: { LOG_FORMAT: 'json', LOG_LEVEL: 'info' } } },
      control: { port: 20_000 + (process.pid % 20_000) },
      url: ctx.options.amqpUrl,
    };
    const configFile = join(dir, 'rabbit-worker.config.json');
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    child = spawnChild(process.execPath, [bin, 'supervise', configFile], { ...process.env, LOG_FORMAT: 'json', AMQP_URL: ctx.options.amqpUrl }, dir);
    // Children's lines come through the supervisor, possibly prefixed: count the ones that say consuming.
    let consuming = 0;
    const fourth = await child.waitFor(
      (line) => {
        const msg = jsonLine(line.slice(Math.max(0, line.indexOf('{'))))?.msg;
        if ((typeof msg === 'string' ? msg : line).includes(`consuming ${queue}`)) consuming++;
        return consuming >= 4;
      },
      60_000,
      'four children consuming',
    );
    const startCpuMs = processTree(child.pid).map(cpuMs).filter(Number.isFinite).reduce((a, b) => a + b, 0);
    await sleep(IDLE_WAIT_MS);
    const pids = processTree(child.pid);
    const rss = pids.map(rssMb).filter(Number.isFinite);
    const result: SupervisorCost = {
      measured: true,
      note: `${pids.length} processes (supervisor + children) summed`,
      startMs: fourth.at - child.spawnedAt,
      startCpuMs,
      totalRssMb: rss.reduce((a, b) => a + b, 0),
      supervisorRssMb: rssMb(child.pid),
      processes: pids.length,
    };
    log(`cost supervise ${variant.id}: 4 children consuming after ${result.startMs?.toFixed(0)} ms (CPU ${startCpuMs.toFixed(0)} ms); RSS ${result.totalRssMb?.toFixed(1)} MB over ${pids.length} processes`);
    return result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`cost supervise ${variant.id} FAILED: ${message}`);
    return { measured: false, note: `not measured: supervise did not reach 4 consuming children (${message.split('\n')[0]})` };
  } finally {
    if (child !== undefined) {
      // Children of the supervisor must not survive it: SIGTERM the tree, then SIGKILL what is left.
      const pids = processTree(child.pid);
      await child.stop(10_000);
      for (const pid of pids) {
        try {
          // Only what is still one of ours (a pid could have been reused in between).
          if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('rabbit-worker')) continue;
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
    await ctx.admin.deleteQueue(queue).catch(() => {});
  }
}
