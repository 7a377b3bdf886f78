/**
 * Cost of one worker: cold start (spawn() → the "consuming" line, with an empty queue, connection and
 * queue declaration included) and idle RSS a few seconds after it consumes. Raw amqplib is measured the
 * same way as a reference. Then `rabbit-worker supervise` with 1 type × 4 processes and with 20 one-process
 * types, when that command exists.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
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

/** The worker types of one supervisor run: `types` types, each of `processes` processes, each type its own queue. */
export interface SupervisorShape {
  types: number;
  processes: number;
}

/** 1 type × 4 processes (issue 5) and 20 one-process types (issue 10: a host with many worker types). */
export const SUPERVISOR_SHAPES: SupervisorShape[] = [
  { types: 1, processes: 4 },
  { types: 20, processes: 1 },
];

export const shapeKey = (shape: SupervisorShape): string => `${shape.types}x${shape.processes}`;

export interface SupervisorCost {
  /** Which checkout and cache state (see RabbitWorkerVariant); `rw` is this checkout, cache as it is. */
  variant?: string;
  label?: string;
  round?: number;
  /** Types × processes per type; absent in runs recorded before issue 10 (1 × 4). */
  shape?: SupervisorShape;
  measured: boolean;
  note: string;
  /** spawn → the last child's "consuming" line (every type with all its processes consuming) */
  startMs?: number;
  /** CPU time of the supervisor and its children until then, summed */
  startCpuMs?: number;
  /** supervisor + its children, summed, IDLE_WAIT_MS after the last one consumed */
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

/**
 * The supervisor runs of the cost section: every shape, and for each the variants alternating (this checkout
 * with a warm and an empty compile cache, the --base checkout), `rounds` times.
 */
export async function measureSupervisors(variants: RabbitWorkerVariant[], rounds: number, ctx: Context, log: (line: string) => void, shapes: SupervisorShape[] = SUPERVISOR_SHAPES): Promise<SupervisorCost[]> {
  const runs: SupervisorCost[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const shape of shapes) {
      for (const variant of variants) runs.push({ ...(await measureSupervisor(ctx, log, variant, shape)), variant: variant.id, label: variant.label, round, shape });
    }
  }
  return runs;
}

/** A TCP port free right now on loopback, for the supervisor's control endpoint (released before use). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * `rabbit-worker supervise` with `shape.types` worker types of `shape.processes` processes each (the bench
 * drain worker, each type on a queue of its own), from a config file in a temp folder: spawn → every type
 * with all its processes consuming, then the RSS of the tree IDLE_WAIT_MS later.
 */
export async function measureSupervisor(
  ctx: Context,
  log: (line: string) => void,
  variant: RabbitWorkerVariant = { id: 'rw', label: 'rabbit-worker' },
  shape: SupervisorShape = { types: 1, processes: 4 },
): Promise<SupervisorCost> {
  const root = variant.root ?? ROOT;
  const bin = join(root, 'bin/rabbit-worker.js');
  const children = shape.types * shape.processes;
  const what = `${shape.types} type(s) × ${shape.processes} process(es)`;
  if (!hasSupervise(bin, ctx.cwd)) return { measured: false, note: 'not measured yet: this build has no `rabbit-worker supervise` command' };
  const dir = mkdtempSync(join(tmpdir(), 'rabbit-worker-bench-supervise-'));
  const queues: string[] = [];
  let child: ReturnType<typeof spawnChild> | undefined;
  try {
    for (let i = 0; i < shape.types; i++) queues.push(await ctx.admin.createQueue('quorum', `cost-supervise-${shape.types}x${shape.processes}`));
    const file = join(root, 'bench/workers/drain-worker.ts');
    if (variant.coldCache === true) rmSync(compileCacheOf(root), { recursive: true, force: true });
    const workers = Object.fromEntries(
      queues.map((queue, i) => [`bench${shape.types === 1 ? '' : String(i + 1).padStart(2, '0')}`, { file, processes: shape.processes, queue, queueType: 'quorum', prefetch: 100, env: { LOG_FORMAT: 'json', LOG_LEVEL: 'info' } }]),
    );
    // A port of its own for every run: a supervisor that a previous run left in TIME_WAIT, or another
    // bench on this shared machine, must not make this one fail to start.
    const config = { workers, control: { port: await freePort() }, url: ctx.options.amqpUrl };
    const configFile = join(dir, 'rabbit-worker.config.json');
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    child = spawnChild(process.execPath, [bin, 'supervise', configFile], { ...process.env, LOG_FORMAT: 'json', AMQP_URL: ctx.options.amqpUrl }, dir);
    // Children's lines come through the supervisor (JSON with a `proc` field, or prefixed): count distinct
    // processes per queue, so that a child that logs `consuming` twice (a reconnect) is not counted twice,
    // and the run ends when every queue has all its processes.
    const consumingBy = new Map<string, Set<string>>(queues.map((q) => [q, new Set<string>()]));
    let complete = 0;
    const last = await child.waitFor(
      (line) => {
        const parsed = jsonLine(line.slice(Math.max(0, line.indexOf('{'))));
        const msg = typeof parsed?.msg === 'string' ? parsed.msg : line;
        const match = /consuming (\S+)/.exec(msg);
        const procs = match === null ? undefined : consumingBy.get(match[1] as string);
        if (procs === undefined) return false;
        const before = procs.size;
        procs.add(typeof parsed?.proc === 'string' ? parsed.proc : typeof parsed?.pid === 'number' ? String(parsed.pid) : `line ${before}`);
        if (before < shape.processes && procs.size >= shape.processes) complete++;
        return complete >= queues.length;
      },
      // 20 children starting on 2 cores, each loading and connecting: far more than one worker's minute
      60_000 + children * 10_000,
      `${what} consuming`,
    );
    const startCpuMs = processTree(child.pid).map(cpuMs).filter(Number.isFinite).reduce((a, b) => a + b, 0);
    await sleep(IDLE_WAIT_MS);
    const pids = processTree(child.pid);
    const rss = pids.map(rssMb).filter(Number.isFinite);
    const result: SupervisorCost = {
      measured: true,
      note: `${pids.length} processes (supervisor + children) summed`,
      startMs: last.at - child.spawnedAt,
      startCpuMs,
      totalRssMb: rss.reduce((a, b) => a + b, 0),
      supervisorRssMb: rssMb(child.pid),
      processes: pids.length,
    };
    if (pids.length !== children + 1) result.note += ` (expected ${children + 1})`;
    log(`cost supervise ${shapeKey(shape)} ${variant.id}: ${children} children consuming after ${result.startMs?.toFixed(0)} ms (CPU ${startCpuMs.toFixed(0)} ms); RSS ${result.totalRssMb?.toFixed(1)} MB over ${pids.length} processes`);
    return result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`cost supervise ${shapeKey(shape)} ${variant.id} FAILED: ${message}`);
    return { measured: false, note: `not measured: supervise did not reach ${what} consuming (${message.split('\n')[0]})` };
  } finally {
    if (child !== undefined) {
      // Children of the supervisor must not survive it: SIGTERM the tree, then SIGKILL what is left.
      const pids = processTree(child.pid);
      await child.stop(10_000 + children * 500);
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
    for (const queue of queues) await ctx.admin.deleteQueue(queue).catch(() => {});
  }
}
