/**
 * Where the idle RSS of one worker goes (issue 10, "find where the 120 MB goes"): a real
 * `rabbit-worker run bench/workers/memory-worker.ts` (defaults: isolation thread) on an empty bench queue,
 * with bench/workers/memory-preload.mjs loaded through `node --import`. IDLE_WAIT_MS after it consumes,
 * the driver reads VmRSS (and RssAnon/RssFile) from /proc and the figures the main thread (the preload) and
 * the isolate (the worker file) wrote from inside: `process.memoryUsage()` and V8's heap statistics.
 * Run by the cost section; `node --import tsx bench/memory.ts` runs it alone and prints the JSON.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchOptions } from './lib/args.js';
import { BrokerAdmin } from './lib/broker.js';
import { killAllChildren, spawnChild } from './lib/children.js';
import { rssMb } from './lib/proc.js';
import { rabbitWorkerArgs, rabbitWorkerEnv, ROOT } from './systems/rabbit-worker.js';
import type { ConsumerJob } from './systems/types.js';

const IDLE_WAIT_MS = 5000;
const MB = 1048576;
const PRELOAD = join(ROOT, 'bench/workers/memory-preload.mjs');
const WORKER = join(ROOT, 'bench/workers/memory-worker.ts');

/** One thread's view of itself, in MB. */
export interface ThreadMemory {
  heapUsedMb: number;
  heapTotalMb: number;
  /** `external`: memory outside the V8 heap that JS objects hold (Buffers, ArrayBuffers included). */
  externalMb: number;
  arrayBuffersMb: number;
  /** V8's malloc'ed memory outside the heap (compiler, zones). */
  mallocedMb?: number;
  /** The code space of the heap (compiled functions), part of heapTotal. */
  codeSpaceMb?: number;
  heapLimitMb?: number;
}

export interface MemoryBreakdown {
  measured: boolean;
  /** Why a part is missing (n/a in the report), or how it was read. */
  notes: string[];
  rssMb?: number;
  /** RssAnon (heaps, malloc) and RssFile (the node binary and libraries mapped) from /proc/<pid>/status. */
  rssAnonMb?: number;
  rssFileMb?: number;
  main?: ThreadMemory;
  /** One per isolate that loaded the worker file (one when idle: the spare isolate starts only for shutdown()). */
  isolates: ThreadMemory[];
}

interface Snapshot {
  usage: NodeJS.MemoryUsage;
  heap: { malloced_memory: number; heap_size_limit: number };
  codeSpaceBytes: number | null;
}

function threadMemory(file: string): ThreadMemory {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  return {
    heapUsedMb: s.usage.heapUsed / MB,
    heapTotalMb: s.usage.heapTotal / MB,
    externalMb: s.usage.external / MB,
    arrayBuffersMb: s.usage.arrayBuffers / MB,
    mallocedMb: s.heap.malloced_memory / MB,
    codeSpaceMb: s.codeSpaceBytes === null ? undefined : s.codeSpaceBytes / MB,
    heapLimitMb: s.heap.heap_size_limit / MB,
  };
}

function statusMb(pid: number, field: string): number | undefined {
  try {
    const kb = Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm'))?.[1]);
    return Number.isFinite(kb) ? kb / 1024 : undefined;
  } catch {
    return undefined;
  }
}

interface Context {
  admin: BrokerAdmin;
  options: BenchOptions;
  cwd: string;
}

export async function measureMemory(ctx: Context, log: (line: string) => void): Promise<MemoryBreakdown> {
  const result: MemoryBreakdown = { measured: false, notes: [], isolates: [] };
  const dir = mkdtempSync(join(tmpdir(), 'rabbit-worker-bench-memory-'));
  const queue = await ctx.admin.createQueue('quorum', 'memory');
  let child: ReturnType<typeof spawnChild> | undefined;
  try {
    const job: ConsumerJob = { mode: 'drain', queue, queueType: 'quorum', prefetch: 100, messages: 1_000_000_000, amqpUrl: ctx.options.amqpUrl, redisPort: ctx.options.redisPort };
    child = spawnChild(process.execPath, ['--import', PRELOAD, ...rabbitWorkerArgs(job, 'thread', ROOT, WORKER)], { ...rabbitWorkerEnv(job), BENCH_MEMORY_DIR: dir }, ctx.cwd);
    await child.waitFor((line) => line.includes(`"consuming ${queue}"`), 60_000, 'memory worker: consuming');
    await new Promise((resolve) => setTimeout(resolve, IDLE_WAIT_MS));
    result.rssMb = rssMb(child.pid);
    result.rssAnonMb = statusMb(child.pid, 'RssAnon');
    result.rssFileMb = statusMb(child.pid, 'RssFile');
    const files = readdirSync(dir);
    if (files.includes('main.json')) result.main = threadMemory(join(dir, 'main.json'));
    else result.notes.push('main thread: n/a (the --import preload wrote nothing: was it loaded?)');
    for (const file of files.filter((f) => /^isolate-\d+\.json$/.test(f)).sort()) result.isolates.push(threadMemory(join(dir, file)));
    if (result.isolates.length === 0) {
      result.notes.push(files.some((f) => f.startsWith('inline-')) ? 'isolate: n/a (the worker file ran in the main thread: isolation none?)' : 'isolate: n/a (the worker file wrote nothing from its isolate)');
    }
    result.measured = Number.isFinite(result.rssMb);
    result.notes.push('the preload itself (a few hundred kB) is included in the main thread figures');
    const main = result.main;
    const iso = result.isolates[0];
    log(
      `cost memory: RSS ${result.rssMb?.toFixed(1)} MB; main heap ${main?.heapUsedMb.toFixed(1) ?? 'n/a'}/${main?.heapTotalMb.toFixed(1) ?? 'n/a'} MB; isolate heap ${iso?.heapUsedMb.toFixed(1) ?? 'n/a'}/${iso?.heapTotalMb.toFixed(1) ?? 'n/a'} MB (${result.isolates.length} isolate(s))`,
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    result.notes.push(`not measured: ${message.split('\n')[0]}`);
    log(`cost memory FAILED: ${message}`);
  } finally {
    await child?.stop(5000);
    rmSync(dir, { recursive: true, force: true });
    await ctx.admin.deleteQueue(queue).catch(() => {});
  }
  return result;
}

/** Everything the breakdown does not name: RSS − (both heaps as committed + memory outside them). */
export function otherMb(m: MemoryBreakdown): number {
  if (m.rssMb === undefined || m.main === undefined) return Number.NaN;
  const parts = [m.main, ...m.isolates].reduce((sum, t) => sum + t.heapTotalMb + t.externalMb, 0);
  return m.rssMb - parts;
}

if (process.argv[1] !== undefined && new URL(import.meta.url).pathname === process.argv[1]) {
  const { parseOptions } = await import('./lib/args.js');
  const options = parseOptions(['--quick', '--no-write']);
  if (options === 'help') throw new Error('unreachable');
  const admin = await BrokerAdmin.open(options.amqpUrl);
  try {
    const m = await measureMemory({ admin, options, cwd: ROOT }, (line) => void process.stdout.write(`${line}\n`));
    process.stdout.write(`${JSON.stringify({ ...m, otherMb: otherMb(m) }, null, 1)}\n`);
  } finally {
    killAllChildren();
    await admin.close();
  }
}
