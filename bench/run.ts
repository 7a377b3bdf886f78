/**
 * `npm run bench`: drain throughput, latency, cost (start, memory, supervise) and CPU-bound callbacks
 * (threads vs processes) of rabbit-worker against raw amqplib and its peers, in one invocation, systems
 * alternating. See docs/benchmarks.md for the method and the last results.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { HELP, parseOptions, type BenchOptions } from './lib/args.js';
import { BrokerAdmin } from './lib/broker.js';
import { killAllChildren } from './lib/children.js';
import { machineInfo } from './lib/machine.js';
import { ensureRedis } from './lib/redis.js';
import { measureSupervisors, runColdStarts } from './cost.js';
import { runCpu } from './cpu.js';
import { measureMemory } from './memory.js';
import { runDrains } from './drain.js';
import { runLatency } from './latency.js';
import { renderMarkdown, type Results, type SectionLoad } from './report.js';
import { BASELINE_ID, SYSTEM_GROUPS, SYSTEMS } from './systems/index.js';
import { amqplibPlainSystem } from './systems/amqplib.js';
import { rabbitWorkerSystem, type RabbitWorkerVariant } from './systems/rabbit-worker.js';
import type { System } from './systems/types.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const log = (line: string): void => void process.stdout.write(`${line}\n`);

function pickSystems(options: BenchOptions): System[] {
  if (options.only === undefined) return SYSTEMS;
  const only = options.only.flatMap((id) => SYSTEM_GROUPS[id] ?? [id]);
  const unknown = only.filter((id) => !SYSTEMS.some((s) => s.id === id));
  if (unknown.length > 0) throw new Error(`--only: unknown system(s) ${unknown.join(', ')}; known: ${SYSTEMS.map((s) => s.id).join(', ')}`);
  // The baseline always runs: every figure is a ratio to it.
  return SYSTEMS.filter((s) => s.id === BASELINE_ID || only.includes(s.id));
}

/** Extra rabbit-worker starts of the cost section: an empty compile cache; the --base checkout. */
function costVariants(options: BenchOptions, systems: System[]): RabbitWorkerVariant[] {
  if (!systems.some((s) => s.id === 'rw-thread')) return [];
  return [
    { id: 'rw-thread-nocache', label: 'rabbit-worker (defaults), compile cache emptied first', coldCache: true },
    ...(options.base !== undefined ? [{ id: 'rw-thread-base', label: `rabbit-worker (defaults) of ${options.base}`, root: options.base }] : []),
  ];
}

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2));
  if (parsed === 'help') {
    log(HELP);
    return 0;
  }
  const options = parsed;
  const started = performance.now();
  const loadAtStart = loadavg()[0] ?? 0;
  let systems = pickSystems(options);
  const notes: string[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];
  const admin = await BrokerAdmin.open(options.amqpUrl);
  cleanups.push(() => admin.close());

  // Whatever happens — an error, Ctrl-C — children are killed and queues deleted before we go.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    log(`\n${signal}: cleaning up`);
    killAllChildren();
    void Promise.allSettled(cleanups.map((c) => c())).then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  process.on('exit', killAllChildren);

  try {
    if (systems.some((s) => s.backend === 'redis') && options.sections.includes('drain')) {
      const redis = await ensureRedis(options.redisPort);
      if (redis === undefined) {
        notes.push('BullMQ skipped: no Redis could be reached or started on 127.0.0.1.');
        systems = systems.filter((s) => s.backend !== 'redis');
      } else cleanups.push(redis.stop);
    }
    const machine = machineInfo();
    log(`rabbit-worker bench: ${systems.map((s) => s.id).join(', ')}; ${options.rounds} round(s); N=${options.messages} (prefetch 1: ${options.messagesP1}); sections ${options.sections.join(',')}`);
    const ctx = { admin, options, cwd: ROOT };
    // The machine's load at the start and end of every section: a section run under load says so.
    const sectionLoads: SectionLoad[] = [];
    const timed = async <T>(section: string, run: () => Promise<T>): Promise<T> => {
      const load = { section, loadStart: loadavg()[0] ?? 0, loadEnd: Number.NaN, seconds: Number.NaN };
      const t0 = performance.now();
      try {
        return await run();
      } finally {
        load.loadEnd = loadavg()[0] ?? 0;
        load.seconds = (performance.now() - t0) / 1000;
        sectionLoads.push(load);
      }
    };
    const drains = options.sections.includes('drain') ? await timed('drain', () => runDrains(systems, ctx, log)) : [];
    const latencySystems = systems.filter((s) => s.latency);
    const latency = options.sections.includes('latency') ? await timed('latency', () => runLatency(latencySystems, ctx, log)) : [];
    // amqplib as reference, the two rabbit-worker modes, and the same worker with an empty compile cache (and
    // from the --base checkout): the cost of the first start after a deploy, and what this checkout changed
    const variants = costVariants(options, systems);
    const costSystems = [...systems.filter((s) => s.latency), amqplibPlainSystem, ...variants.map((v) => rabbitWorkerSystem('thread', v))];
    const costs = options.sections.includes('cost') ? await timed('cost: one worker', () => runColdStarts(costSystems, ctx, log)) : [];
    const memory = options.sections.includes('cost') ? await timed('cost: memory breakdown', () => measureMemory(ctx, log)) : undefined;
    // warm cache (as after `rabbit-worker prepare`, or any start but the first) and emptied cache (the first
    // start after a deploy: every child compiles), alternating; and the --base checkout
    const supervisorVariants: RabbitWorkerVariant[] = [
      { id: 'rw', label: 'rabbit-worker, compile cache warm' },
      { id: 'rw-nocache', label: 'rabbit-worker, compile cache emptied first', coldCache: true },
      ...(options.base !== undefined ? [{ id: 'base', label: `rabbit-worker of ${options.base}`, root: options.base }] : []),
    ];
    const supervisor = options.sections.includes('cost') ? await timed('cost: supervise', () => measureSupervisors(supervisorVariants, options.base !== undefined ? options.coldStarts : options.rounds, ctx, log)) : [];
    const cpu = options.sections.includes('cpu') ? await timed('cpu', () => runCpu(ctx, log)) : undefined;
    const failures = drains.filter((d) => d.error !== undefined).length + latency.filter((l) => l.error !== undefined).length + costs.filter((c) => c.error !== undefined).length + (cpu?.samples.filter((c) => c.error !== undefined).length ?? 0);
    notes.push(`Load average (1 min) ${loadAtStart.toFixed(1)} at the start and ${(loadavg()[0] ?? 0).toFixed(1)} at the end, on ${machine.cores} cores: anything above ~1 means other work shared the machine, which widens the spread of the runs but not the alternation.`);
    if (failures > 0) notes.push(`${failures} run(s) failed and count as n/a; their errors are in the console output.`);
    const results: Results = {
      options,
      machine,
      command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      durationS: (performance.now() - started) / 1000,
      systems,
      baseline: BASELINE_ID,
      drains,
      latency,
      latencySystems,
      costs,
      costSystems,
      supervisor,
      memory,
      cpu: cpu?.samples ?? [],
      cpuCalibration: cpu?.calibration,
      sectionLoads,
      notes,
    };
    const markdown = renderMarkdown(results);
    log(`\n${markdown}`);
    if (options.out !== undefined) {
      const path = resolve(ROOT, options.out);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, markdown);
      // The raw samples beside it, so that the tables can be re-derived or compared across runs.
      const raw = path.replace(/\.md$/, '') + '.json';
      writeFileSync(raw, `${JSON.stringify({ date: results.date, command: results.command, machine, options, drains, latency, costs, supervisor, memory, cpu, sectionLoads }, null, 1)}\n`);
      log(`written to ${options.out} (raw samples: ${relative(ROOT, raw)})`);
    }
    return failures > 0 ? 1 : 0;
  } finally {
    killAllChildren();
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    killAllChildren();
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
