/** Turns the samples into the markdown of docs/benchmarks.md (also printed), targets included. */
import type { BenchOptions } from './lib/args.js';
import type { MachineInfo } from './lib/machine.js';
import { fmtInt, fmtMs, fmtRatio, median } from './lib/stats.js';
import { shapeKey, type CostSample, type SupervisorCost, type SupervisorShape } from './cost.js';
import { CPU_MODES, type CpuCalibration, type CpuSample } from './cpu.js';
import { otherMb, type MemoryBreakdown } from './memory.js';
import { cellKey, cellsOf, type DrainSample } from './drain.js';
import type { LatencySample } from './latency.js';
import type { System } from './systems/types.js';

export interface Results {
  options: BenchOptions;
  machine: MachineInfo;
  command: string;
  date: string;
  durationS: number;
  systems: System[];
  baseline: string;
  drains: DrainSample[];
  latency: LatencySample[];
  latencySystems: System[];
  costs: CostSample[];
  /** The systems of the cost section: those above, and the variants of rabbit-worker measured only there. */
  costSystems: System[];
  /** Supervisor runs, one per shape, variant and round. */
  supervisor: SupervisorCost[];
  /** Where one idle worker's RSS goes (cost section). */
  memory: MemoryBreakdown | undefined;
  /** CPU-bound callbacks, threads vs processes (cpu section). */
  cpu: CpuSample[];
  cpuCalibration: CpuCalibration | undefined;
  /** The machine's 1-minute load average at the start and end of each section. */
  sectionLoads: SectionLoad[];
  notes: string[];
}

export interface SectionLoad {
  section: string;
  loadStart: number;
  loadEnd: number;
  seconds: number;
}

const rate = (s: DrainSample, key: 'fromConsumingMs' | 'fromSpawnMs'): number => (s.error === undefined ? (s.cell.messages / s[key]) * 1000 : Number.NaN);

/** Median throughput of one system in one cell. */
export function medianRate(drains: DrainSample[], system: string, key: string, from: 'fromConsumingMs' | 'fromSpawnMs' = 'fromConsumingMs'): number {
  return median(drains.filter((d) => d.system === system && cellKey(d.cell) === key).map((d) => rate(d, from)));
}

/** Median over rounds of (system ÷ baseline in the same round): the paired ratio. */
function pairedRatio(drains: DrainSample[], system: string, baseline: string, key: string): number {
  const rounds = new Set(drains.map((d) => d.round));
  const ratios: number[] = [];
  for (const round of rounds) {
    const a = drains.find((d) => d.system === system && d.round === round && cellKey(d.cell) === key);
    const b = drains.find((d) => d.system === baseline && d.round === round && cellKey(d.cell) === key);
    if (a !== undefined && b !== undefined) ratios.push(rate(a, 'fromConsumingMs') / rate(b, 'fromConsumingMs'));
  }
  return median(ratios);
}

function drainTables(r: Results): string[] {
  if (r.drains.length === 0) return ['Not run in this invocation.', ''];
  const out: string[] = [];
  for (const cell of cellsOf(r.options)) {
    const key = cellKey(cell);
    const base = medianRate(r.drains, r.baseline, key);
    out.push(`### ${cell.queueType} queue, prefetch/concurrency ${cell.prefetch}, ${fmtInt(cell.messages)} messages`, '');
    out.push('| system | median msgs/s | ratio to amqplib | paired ratio (median of rounds) | msgs/s from spawn | runs (msgs/s) |');
    out.push('| --- | ---: | ---: | ---: | ---: | --- |');
    for (const system of r.systems) {
      const runs = r.drains.filter((d) => d.system === system.id && cellKey(d.cell) === key);
      if (runs.length === 0) continue;
      const m = medianRate(r.drains, system.id, key);
      const label = system.backend === 'redis' ? `${system.label} — own Redis queue, not ${cell.queueType}` : system.label;
      out.push(
        `| ${label} | ${fmtInt(m)} | ${fmtRatio(m / base)} | ${system.id === r.baseline ? '—' : fmtRatio(pairedRatio(r.drains, system.id, r.baseline, key))} | ${fmtInt(medianRate(r.drains, system.id, key, 'fromSpawnMs'))} | ${runs.map((d) => (d.error === undefined ? fmtInt(rate(d, 'fromConsumingMs')) : 'failed')).join(', ')} |`,
      );
    }
    out.push('');
  }
  return out;
}

interface Target {
  name: string;
  value: number;
  /** undefined: measured, no goal set (the issue asks for the figure, not a bound) */
  goal?: number;
  /** true when higher is better */
  atLeast: boolean;
  unit: string;
}

function targets(r: Results): Target[] {
  const list: Target[] = [];
  const has = (id: string): boolean => r.drains.some((d) => d.system === id && d.error === undefined);
  for (const cell of cellsOf(r.options)) {
    const key = cellKey(cell);
    const base = medianRate(r.drains, r.baseline, key);
    const ratio = (id: string): number => medianRate(r.drains, id, key) / base;
    if (cell.prefetch === 100) {
      if (has('rw-none')) list.push({ name: `${key}: isolation none ÷ raw amqplib`, value: ratio('rw-none'), goal: 1.3, atLeast: true, unit: '×' });
      const peers = ['rascal', 'rabbitmq-client', 'bullmq'].filter(has);
      if (has('rw-none') && peers.length > 0) {
        const best = Math.max(...peers.map((p) => medianRate(r.drains, p, key)));
        const bestId = peers.find((p) => medianRate(r.drains, p, key) === best);
        list.push({ name: `${key}: isolation none ÷ best peer (${bestId})`, value: medianRate(r.drains, 'rw-none', key) / best, goal: 1.2, atLeast: true, unit: '×' });
      }
      if (has('rw-thread')) list.push({ name: `${key}: defaults (thread) ÷ raw amqplib`, value: ratio('rw-thread'), goal: 1.1, atLeast: true, unit: '×' });
      // issue 11: metrics on by default cost at most 3 % of the drain rate (paired rounds: drift cancels)
      if (has('rw-thread') && has('rw-nometrics')) list.push({ name: `${key}: metrics on ÷ metrics off (paired)`, value: pairedRatio(r.drains, 'rw-thread', 'rw-nometrics', key), goal: 0.97, atLeast: true, unit: '×' });
      // issue 11: the cost of tracing, measured (no goal): a span per message (SDK, batch processor) ÷ no provider
      if (has('rw-thread') && has('rw-tracing')) list.push({ name: `${key}: tracing on ÷ tracing off (paired)`, value: pairedRatio(r.drains, 'rw-tracing', 'rw-thread', key), atLeast: true, unit: '×' });
    } else if (cell.prefetch === 1) {
      for (const id of ['rw-thread', 'rw-none'].filter(has)) list.push({ name: `${key}: ${id} ÷ raw amqplib`, value: ratio(id), goal: 0.95, atLeast: true, unit: '×' });
    }
  }
  const lat = (id: string): number => median(r.latency.filter((s) => s.system === id).map((s) => s.p99));
  for (const id of ['rw-thread', 'rw-none']) {
    const added = (lat(id) - lat(r.baseline)) / 1000;
    if (Number.isFinite(added)) list.push({ name: `p99 latency added over raw amqplib at ${r.options.latencyRate} msgs/s (${id})`, value: added, goal: 1, atLeast: false, unit: ' ms' });
  }
  const cost = (id: string, k: 'coldStartMs' | 'idleRssMb'): number => median(r.costs.filter((c) => c.system === id).map((c) => c[k]));
  if (Number.isFinite(cost('rw-thread', 'coldStartMs'))) {
    list.push({ name: 'cold start to consuming (defaults)', value: cost('rw-thread', 'coldStartMs'), goal: 300, atLeast: false, unit: ' ms' });
    list.push({ name: 'idle RSS of one worker (defaults)', value: cost('rw-thread', 'idleRssMb'), goal: 70, atLeast: false, unit: ' MB' });
  }
  return list;
}

function targetLines(r: Results): string[] {
  const out = ['| target | measured | goal | met? |', '| --- | ---: | ---: | --- |'];
  for (const t of targets(r)) {
    if (t.goal === undefined) {
      out.push(`| ${t.name} | ${t.value.toFixed(2)}${t.unit} | — | measured |`);
      continue;
    }
    const met = t.atLeast ? t.value >= t.goal : t.value <= t.goal;
    const digits = t.unit === '×' ? 2 : t.unit === ' ms' && t.goal < 10 ? 2 : 0;
    const pct = (t.value / t.goal - 1) * 100;
    const gap = t.atLeast ? `${pct >= 0 ? '+' : ''}${pct.toFixed(0)}% vs goal` : `${t.value > t.goal ? '+' : ''}${(t.value - t.goal).toFixed(digits)}${t.unit} vs goal`;
    out.push(`| ${t.name} | ${t.value.toFixed(digits)}${t.unit} | ${t.atLeast ? '≥' : '≤'} ${t.goal}${t.unit} | ${met ? 'met' : 'missed'} (${gap}) |`);
  }
  return out;
}

const shapeOf = (s: SupervisorCost): SupervisorShape => s.shape ?? { types: 1, processes: 4 };

function costMedian(r: Results, id: string, k: 'coldStartMs' | 'idleRssMb'): number {
  return median(r.costs.filter((c) => c.system === id && c.error === undefined).map((c) => c[k]));
}

function supervisorMedian(r: Results, shape: SupervisorShape, variant: string, k: 'startMs' | 'totalRssMb'): number {
  return median(r.supervisor.filter((s) => s.measured && s.variant === variant && shapeKey(shapeOf(s)) === shapeKey(shape)).map((s) => s[k] ?? Number.NaN));
}

/** Median over rounds of threads ÷ processes in the same round (throughput or RSS). */
function pairedCpu(r: Results, k: 'msgsPerSecond' | 'maxRssMb'): number {
  const ratios: number[] = [];
  for (const round of new Set(r.cpu.map((c) => c.round))) {
    const a = r.cpu.find((c) => c.round === round && c.mode === 'threads' && c.error === undefined);
    const b = r.cpu.find((c) => c.round === round && c.mode === 'processes' && c.error === undefined);
    if (a !== undefined && b !== undefined) ratios.push(a[k] / b[k]);
  }
  return median(ratios);
}

interface Issue10Row {
  what: string;
  measured: string;
  goal: string;
  verdict: string;
}

/**
 * met / missed by how much, for one bound; with several values (quorum and classic, throughput and RSS)
 * the worst one decides. n/a when a value was not measured in this run.
 */
function verdict(values: number[], goal: number, atLeast: boolean, unit: '×' | ' ms'): string {
  if (values.length === 0 || values.some((v) => !Number.isFinite(v))) return 'n/a (not measured in this run)';
  const worst = atLeast ? Math.min(...values) : Math.max(...values);
  const met = atLeast ? worst >= goal : worst <= goal;
  const by = Math.abs(worst - goal);
  const text = unit === '×' ? `${by.toFixed(2)}× (${((by / goal) * 100).toFixed(0)}% of the goal)` : `${by.toFixed(2)} ms`;
  return met ? `met (margin ${text})` : `**missed** by ${text}`;
}

const x = (v: number): string => fmtRatio(v);
const mb = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(0)} MB` : 'n/a');
const ms0 = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : 'n/a');

/** The targets table of issue 10, its rows in the issue's order and words. */
function issue10Rows(r: Results): Issue10Row[] {
  const rows: Issue10Row[] = [];
  const rawStart = costMedian(r, r.baseline, 'coldStartMs');
  const rawRss = costMedian(r, r.baseline, 'idleRssMb');
  const rwStart = costMedian(r, 'rw-thread', 'coldStartMs');
  const rwRss = costMedian(r, 'rw-thread', 'idleRssMb');
  // the stricter reference: the same raw consumer as plain JavaScript, without tsx's loader
  const plainStart = costMedian(r, 'amqplib-js', 'coldStartMs');
  const plainRss = costMedian(r, 'amqplib-js', 'idleRssMb');
  const plain = (value: number, ref: number, unit: (v: number) => string): string => (Number.isFinite(ref) ? `; ÷ raw as plain JS: ${x(value / ref)} (${unit(ref)})` : '');
  rows.push({
    what: 'start to consuming, one TS worker, defaults ÷ raw amqplib consumer',
    measured: `${x(rwStart / rawStart)} (${ms0(rwStart)} ÷ ${ms0(rawStart)})${plain(rwStart, plainStart, ms0)}`,
    goal: '≤ 1.3×',
    verdict: verdict([rwStart / rawStart], 1.3, false, '×'),
  });
  rows.push({
    what: 'idle RSS, one worker, defaults ÷ raw amqplib consumer',
    measured: `${x(rwRss / rawRss)} (${mb(rwRss)} ÷ ${mb(rawRss)})${plain(rwRss, plainRss, mb)}`,
    goal: '≤ 1.2×',
    verdict: verdict([rwRss / rawRss], 1.2, false, '×'),
  });
  // RSS hardly depends on the compile cache: the warm run, or the emptied one when that is all there is
  const twenty = { types: 20, processes: 1 };
  const rss20 = [supervisorMedian(r, twenty, 'rw', 'totalRssMb'), supervisorMedian(r, twenty, 'rw-nocache', 'totalRssMb')].find(Number.isFinite) ?? Number.NaN;
  rows.push({
    what: '`supervise` with 20 one-process types: total RSS',
    measured: `${mb(rss20)} = ${x(rss20 / (20 * rawRss))} of 20 × raw`,
    goal: `≤ 20 × raw amqplib consumer × 1.2 (= ${mb(20 * rawRss * 1.2)})`,
    verdict: verdict([rss20 / (20 * rawRss)], 1.2, false, '×'),
  });
  // Both cache states are shown; the emptied cache (the first start after a deploy, every child compiling:
  // what the issue describes) decides, the warm one being the easier case.
  const four = { types: 1, processes: 4 };
  const warm4 = supervisorMedian(r, four, 'rw', 'startMs');
  const cold4 = supervisorMedian(r, four, 'rw-nocache', 'startMs');
  rows.push({
    what: '`supervise` with 4 children: all consuming, ÷ one raw consumer start',
    measured: `cache emptied ${x(cold4 / rawStart)} (${ms0(cold4)}); warm ${x(warm4 / rawStart)} (${ms0(warm4)}); ÷ ${ms0(rawStart)}`,
    goal: '≤ 2× (emptied cache decides)',
    verdict: verdict([Number.isFinite(cold4) ? cold4 / rawStart : warm4 / rawStart], 2, false, '×'),
  });
  for (const prefetch of [1, 100]) {
    const ratios = (['quorum', 'classic'] as const).map((t) => medianRate(r.drains, 'rw-thread', `${t}/p${prefetch}`) / medianRate(r.drains, r.baseline, `${t}/p${prefetch}`));
    const goal = prefetch === 1 ? 0.9 : 1.1;
    rows.push({
      what: `drain, prefetch ${prefetch}, defaults ÷ raw amqplib (quorum, classic)`,
      measured: ratios.map(x).join(', '),
      goal: `≥ ${goal}×`,
      verdict: verdict(ratios, goal, true, '×'),
    });
  }
  const tput = pairedCpu(r, 'msgsPerSecond');
  const rss = pairedCpu(r, 'maxRssMb');
  const tputVerdict = verdict([tput], 0.95, true, '×');
  const rssVerdict = verdict([rss], 0.6, false, '×');
  rows.push({
    what: 'CPU-bound callback (~5 ms of CPU), 1 process with `threads: 2` ÷ 2 processes',
    measured: `throughput ${x(tput)}, RSS ${x(rss)}`,
    goal: 'throughput ≥ 0.95×, RSS ≤ 0.6×',
    verdict: tputVerdict.startsWith('n/a') && rssVerdict.startsWith('n/a') ? tputVerdict : `throughput ${tputVerdict}; RSS ${rssVerdict}`,
  });
  const p99 = (id: string): number => median(r.latency.filter((s) => s.system === id).map((s) => s.p99)) / 1000;
  const added = p99('rw-thread') - p99(r.baseline);
  rows.push({
    what: `p99 added latency at ${fmtInt(r.options.latencyRate)} msgs/s, defaults`,
    measured: Number.isFinite(added) ? `${added >= 0 ? '+' : ''}${added.toFixed(2)} ms` : 'n/a',
    goal: '≤ +0.5 ms',
    verdict: verdict([added], 0.5, false, ' ms'),
  });
  return rows;
}

function issue10Lines(r: Results): string[] {
  return ['| what | measured | target | met? |', '| --- | --- | --- | --- |', ...issue10Rows(r).map((row) => `| ${row.what} | ${row.measured} | ${row.goal} | ${row.verdict} |`)];
}

function cpuLines(r: Results): string[] {
  if (r.cpu.length === 0) return ['Not run in this invocation.'];
  const c = r.cpuCalibration;
  const n = r.cpu[0]?.messages ?? r.options.cpuMessages;
  const out = [
    `A quorum queue of ${fmtInt(n)} messages, each of which costs the callback ~${c?.targetMs ?? r.options.cpuMs} ms of synchronous CPU (bench/workers/cpu-worker.ts: ${c === undefined ? 'n/a' : fmtInt(c.iterations)} chained SHA-256 over a 4 KiB block, the count calibrated once in the driver${c === undefined ? '' : ` at ${c.iterationUs.toFixed(2)} µs each`}; a fixed amount of work, so that a callback sharing its core is slower instead of doing less), drained by (a) one \`rabbit-worker run --threads 2\` process, prefetch 10, or (b) two \`rabbit-worker run --threads 1\` processes on the same queue, prefetch 10 each; (a) and (b) alternate in each of ${r.options.cpuRounds} round(s). Throughput = N ÷ (the N-th \`cpu settled\` line, counted over all the processes − the first \`consuming\` line). RSS = the largest sum of VmRSS over the processes, sampled every 500 ms while they drain. CPU ms/msg = the CPU time the processes used (user + system, every thread) from the moment all consumed to the N-th settled line ÷ N: what a message really cost, the callback's work plus rabbit-worker's and amqplib's, start-up left out. The clock starts at the first process consuming, so in (b) the first process drains alone until the second one consumes (shown as spawn → all consuming). Ratios: median over rounds of (a) ÷ (b) in the same round. The broker shares the 2 cores.`,
    '',
    '| consumers | median msgs/s | throughput ÷ 2 processes (paired) | median max RSS MB | RSS ÷ 2 processes (paired) | CPU ms/msg | spawn → all consuming ms | runs msgs/s (max RSS MB) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const spec of CPU_MODES) {
    const runs = r.cpu.filter((s) => s.mode === spec.mode);
    const ok = runs.filter((s) => s.error === undefined);
    const med = (k: 'msgsPerSecond' | 'maxRssMb' | 'cpuMsPerMessage' | 'startMs'): number => median(ok.map((s) => s[k]));
    const own = spec.mode === 'threads';
    out.push(
      `| ${spec.label} | ${fmtMs(med('msgsPerSecond'), 1)} | ${own ? x(pairedCpu(r, 'msgsPerSecond')) : '—'} | ${fmtMs(med('maxRssMb'), 1)} | ${own ? x(pairedCpu(r, 'maxRssMb')) : '—'} | ${fmtMs(med('cpuMsPerMessage'))} | ${fmtMs(med('startMs'), 0)} | ${runs.map((s) => (s.error === undefined ? `${s.msgsPerSecond.toFixed(1)} (${s.maxRssMb.toFixed(0)})` : 'failed')).join(', ')} |`,
    );
  }
  return out;
}

function memoryLines(r: Results): string[] {
  const m = r.memory;
  if (m === undefined) return [];
  const out = [
    '### Memory of one idle worker',
    '',
    `One \`rabbit-worker run bench/workers/memory-worker.ts\` (defaults: isolation thread) on an empty quorum queue, 5 s after it consumes, one run. VmRSS, RssAnon and RssFile from /proc; from inside, \`process.memoryUsage()\` and V8's heap statistics of the main thread (a preload given with \`node --import bench/workers/memory-preload.mjs\`) and of the isolate (written by the worker file itself, loaded in the isolate). Heap "total" is what V8 has committed, not all of it resident; "external" is memory outside the heap that JS objects hold (Buffers and ArrayBuffers included); "code/other" is RSS minus both heaps' totals and externals: the node binary and libraries mapped (RssFile), V8's and libuv's own allocations, thread stacks.`,
    '',
  ];
  if (!m.measured) return [...out, `n/a: ${m.notes.join('; ')}`, ''];
  const f = (v: number | undefined, d = 1): string => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(d));
  const iso = m.isolates[0];
  const isoNa = m.notes.find((n) => n.startsWith('isolate')) ?? 'n/a';
  const mainNa = m.notes.find((n) => n.startsWith('main')) ?? 'n/a';
  const external = (t: typeof iso): string => (t === undefined ? 'n/a' : `${f(t.externalMb)} (of which ArrayBuffers ${f(t.arrayBuffersMb)})`);
  out.push('| part | MB |', '| --- | ---: |');
  out.push(`| RSS of the process (VmRSS) | ${f(m.rssMb)} |`);
  out.push(`| … of which RssAnon (heaps, malloc) / RssFile (binary, libraries) | ${f(m.rssAnonMb)} / ${f(m.rssFileMb)} |`);
  out.push(`| main thread: heap used / total | ${m.main === undefined ? mainNa : `${f(m.main.heapUsedMb)} / ${f(m.main.heapTotalMb)}`} |`);
  out.push(`| isolate: heap used / total (limit) | ${iso === undefined ? isoNa : `${f(iso.heapUsedMb)} / ${f(iso.heapTotalMb)} (${f(iso.heapLimitMb, 0)})`} |`);
  out.push(`| external + arrayBuffers: main thread | ${m.main === undefined ? mainNa : external(m.main)} |`);
  out.push(`| external + arrayBuffers: isolate | ${iso === undefined ? isoNa : external(iso)} |`);
  out.push(`| V8 code space, main / isolate (part of the heap totals) | ${f(m.main?.codeSpaceMb)} / ${f(iso?.codeSpaceMb)} |`);
  out.push(`| code/other (RSS − heap totals − externals) | ${f(otherMb(m))} |`);
  out.push(`| for reference: raw amqplib consumer, idle RSS (median of the table above) | ${f(costMedian(r, r.baseline, 'idleRssMb'))} |`);
  if (m.isolates.length > 1) out.push('', `${m.isolates.length} isolates wrote figures; the first is shown, the code/other row counts all of them.`);
  out.push('', ...m.notes.map((n) => `- ${n}`), '');
  return out;
}

function latencyLines(r: Results): string[] {
  if (r.latency.length === 0) return ['Not run in this invocation.'];
  const out = [
    `${r.options.latencyRate} msgs/s for ${r.options.latencySeconds} s per run into a quorum queue, prefetch 100, ${r.options.latencyRounds} alternating round(s); the first second of each run is warm-up and left out. Values are medians over rounds of each run's percentile, in ms.`,
    '',
    '| system | p50 | p90 | p99 | max | p99 added over amqplib | runs p99 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  const med = (id: string, k: 'p50' | 'p90' | 'p99' | 'max'): number => median(r.latency.filter((s) => s.system === id).map((s) => s[k])) / 1000;
  for (const system of r.latencySystems) {
    const runs = r.latency.filter((s) => s.system === system.id);
    out.push(
      `| ${system.label} | ${fmtMs(med(system.id, 'p50'))} | ${fmtMs(med(system.id, 'p90'))} | ${fmtMs(med(system.id, 'p99'))} | ${fmtMs(med(system.id, 'max'))} | ${system.id === r.baseline ? '—' : fmtMs(med(system.id, 'p99') - med(r.baseline, 'p99'))} | ${runs.map((s) => (s.error === undefined ? fmtMs(s.p99 / 1000) : 'failed')).join(', ')} |`,
    );
  }
  return out;
}

function costLines(r: Results): string[] {
  const out: string[] = [];
  if (r.costs.length > 0) {
    out.push(`Spawn → "consuming" with an empty quorum queue (loading, connecting, declaring included), then idle RSS (VmRSS of the process, isolate thread included) ${5} s later; ${r.options.coldStarts} alternating run(s), medians (min–max). The raw amqplib consumer runs under tsx (\`node --import tsx amqplib.ts\`), as the bench always ran it and as the figures of the issues were measured; "as plain JavaScript" is the same consumer bundled once with esbuild and run with \`node\`: without tsx's loader thread it starts ~150 ms sooner in ~25 MB less, the stricter reference.`, '');
    out.push('| process | cold start ms | CPU ms until consuming | idle RSS MB |', '| --- | ---: | ---: | ---: |');
    const ids = [...new Set(r.costs.map((c) => c.system))];
    for (const id of ids) {
      const runs = r.costs.filter((c) => c.system === id && c.error === undefined);
      const label = r.costSystems.find((s) => s.id === id)?.label ?? id;
      const range = (k: 'coldStartMs' | 'coldStartCpuMs' | 'idleRssMb', d: number): string => {
        const values = runs.map((c) => c[k] ?? Number.NaN);
        return runs.length === 0 ? 'n/a' : `${median(values).toFixed(d)} (${Math.min(...values).toFixed(d)}–${Math.max(...values).toFixed(d)})`;
      };
      out.push(`| ${label} | ${range('coldStartMs', 0)} | ${range('coldStartCpuMs', 0)} | ${range('idleRssMb', 1)} |`);
    }
    out.push('');
  }
  out.push(...memoryLines(r));
  if (r.supervisor.length > 0) {
    out.push(
      '### `rabbit-worker supervise`',
      '',
      'A config file of T worker types × P processes, each type on a quorum queue of its own, every process the bench drain worker (prefetch 100); its control endpoint on a port found free just before. Spawn of the supervisor → the moment every queue has P distinct child processes that logged `consuming <queue>` (counted by queue and by process, through the supervisor\'s JSON lines, so that a child logging twice is not counted twice), then the RSS of the supervisor and its children summed 5 s later; CPU ms = CPU time of the tree until all consumed. Variants: the compile cache warm, and emptied just before (the first start after a deploy, every child compiling); medians (min–max) over the runs, variants alternating.',
      '',
      '| types × processes | supervisor | runs | all consuming after ms | CPU ms until then | total RSS MB | supervisor RSS MB |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const shape of [...new Map(r.supervisor.map((s) => [shapeKey(shapeOf(s)), shapeOf(s)])).values()]) {
      for (const variant of [...new Set(r.supervisor.map((s) => s.variant))]) {
        const all = r.supervisor.filter((s) => s.variant === variant && shapeKey(shapeOf(s)) === shapeKey(shape));
        if (all.length === 0) continue;
        const runs = all.filter((s) => s.measured);
        const label = all[0]?.label ?? variant ?? 'rabbit-worker';
        if (runs.length === 0) {
          out.push(`| ${shape.types} × ${shape.processes} | ${label} | 0 | ${all[0]?.note ?? 'not measured'} | | | |`);
          continue;
        }
        const range = (k: 'startMs' | 'startCpuMs' | 'totalRssMb' | 'supervisorRssMb', d: number): string => {
          const values = runs.map((s) => s[k] ?? Number.NaN);
          return `${median(values).toFixed(d)} (${Math.min(...values).toFixed(d)}–${Math.max(...values).toFixed(d)})`;
        };
        out.push(`| ${shape.types} × ${shape.processes} | ${label} | ${runs.length}${all.length > runs.length ? ` (${all.length - runs.length} failed)` : ''} | ${range('startMs', 0)} | ${range('startCpuMs', 0)} | ${range('totalRssMb', 1)} | ${range('supervisorRssMb', 1)} |`);
      }
    }
  }
  return out.length > 0 ? out : ['Not run in this invocation.'];
}

export function renderMarkdown(r: Results): string {
  const m = r.machine;
  const lines = [
    '# Benchmarks',
    '',
    `Produced by \`${r.command}\` on ${r.date} in ${Math.round(r.durationS / 60)} min. Every figure below comes from that one invocation; only ratios between systems measured in the same run mean anything, since absolute figures drift ±20% between runs on this shared machine.`,
    '',
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB; broker and consumers on the same machine (loopback)`,
    `- Node ${m.node}; RabbitMQ ${m.rabbitmq}; Redis ${m.redis}`,
    `- rabbit-worker ${m.rabbitWorker} (commit ${m.commit}); ${Object.entries(m.packages).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `- Drain: ${fmtInt(r.options.messages)} messages at prefetch 100, ${fmtInt(r.options.messagesP1)} at prefetch 1 (fewer, because a prefetch-1 consumer is ~10× slower per message); ${r.options.rounds} round(s)`,
    '',
    '## Targets of issue 10',
    '',
    'Start-up, memory, prefetch 1 and CPU-bound callbacks; each row as the issue words it. "met?" says by how much the measured value clears or misses the target (with two values, the worse one).',
    '',
    ...issue10Lines(r),
    '',
    '## Targets of issues 5 and 11',
    '',
    ...targetLines(r),
    '',
    '## Drain throughput',
    '',
    'Each run: a fresh durable queue with rabbit-worker\'s arguments (dead-letter to `<queue>.dlq`) gets N persistent ~100-byte JSON messages (untimed, publisher confirms), then one fresh consumer process drains it with a trivial async callback that acks. msgs/s = N ÷ (time of the last ack − time the consumer said it was consuming), both read by the driver from the consumer\'s stdout; "from spawn" also counts process start, loading, connecting and declaring. Systems alternate A B C … inside every (round, queue type, prefetch) cell. After every run the driver checks that the queue is empty.',
    '',
    '- raw amqplib: `channel.consume` with an async callback and `channel.ack(message)` per message (one ack per message: the baseline).',
    '- rabbit-worker: a real `rabbit-worker run bench/workers/drain-worker.ts --max-messages N` process; its JSON log line `consuming` starts the clock and `stopping (max-messages)` — written right after the last settlement, whose ack leaves in the same event-loop turn — stops it.',
    '- rascal: `withDefaultConfig`, one subscription with the prefetch, `ackOrNack()` per message (rascal decodes JSON bodies by content type).',
    '- rabbitmq-client: `createConsumer` with `qos.prefetchCount` and `concurrency` = prefetch; the handler resolving acks (it decodes JSON bodies too).',
    '- BullMQ: a `Worker` with `concurrency` = prefetch on its own Redis queue (jobs added with `removeOnComplete`); its `completed` event is the ack. It has no queue type: its rows in the quorum and classic tables are separate runs of the same job.',
    '',
    ...drainTables(r),
    '## Latency (publish → callback)',
    '',
    ...latencyLines(r),
    '',
    '## Cost',
    '',
    ...costLines(r),
    '',
    '## CPU-bound callbacks: threads vs processes',
    '',
    ...cpuLines(r),
    '',
  ];
  const notes = [...r.notes];
  if (r.sectionLoads.length > 0) {
    notes.push(`Load average (1 min) per section, start → end: ${r.sectionLoads.map((l) => `${l.section} ${l.loadStart.toFixed(1)} → ${l.loadEnd.toFixed(1)} (${Math.round(l.seconds)} s)`).join('; ')}.`);
  }
  if (notes.length > 0) lines.push('## Notes', '', ...notes.map((n) => `- ${n}`), '');
  return `${lines.join('\n')}\n`;
}
