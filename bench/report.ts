/** Turns the samples into the markdown of docs/benchmarks.md (also printed), targets included. */
import type { BenchOptions } from './lib/args.js';
import type { MachineInfo } from './lib/machine.js';
import { fmtInt, fmtMs, fmtRatio, median } from './lib/stats.js';
import type { CostSample, SupervisorCost } from './cost.js';
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
  /** Supervisor runs, one per variant and round. */
  supervisor: SupervisorCost[];
  notes: string[];
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
  goal: number;
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
    const met = t.atLeast ? t.value >= t.goal : t.value <= t.goal;
    const digits = t.unit === '×' ? 2 : t.unit === ' ms' && t.goal < 10 ? 2 : 0;
    const pct = (t.value / t.goal - 1) * 100;
    const gap = t.atLeast ? `${pct >= 0 ? '+' : ''}${pct.toFixed(0)}% vs goal` : `${t.value > t.goal ? '+' : ''}${(t.value - t.goal).toFixed(digits)}${t.unit} vs goal`;
    out.push(`| ${t.name} | ${t.value.toFixed(digits)}${t.unit} | ${t.atLeast ? '≥' : '≤'} ${t.goal}${t.unit} | ${met ? 'met' : 'missed'} (${gap}) |`);
  }
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
    out.push(`Spawn → "consuming" with an empty quorum queue (loading, connecting, declaring included), then idle RSS (VmRSS of the process, isolate thread included) ${5} s later; ${r.options.coldStarts} alternating run(s), medians (min–max).`, '');
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
  const failed = r.supervisor.find((s) => !s.measured);
  if (failed !== undefined) out.push(`\`rabbit-worker supervise\` with 4 children: ${failed.note}.`);
  else if (r.supervisor.length > 0) {
    out.push('`rabbit-worker supervise` with one type of 4 processes: spawn of the supervisor → the 4th "consuming" line, then the RSS of the supervisor and its children summed; medians (min–max) over the runs, variants alternating.', '');
    out.push('| supervisor | runs | 4 consuming after ms | CPU ms until then | total RSS MB | supervisor RSS MB |', '| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const variant of [...new Set(r.supervisor.map((s) => s.variant))]) {
      const runs = r.supervisor.filter((s) => s.variant === variant);
      const range = (k: 'startMs' | 'startCpuMs' | 'totalRssMb' | 'supervisorRssMb', d: number): string => {
        const values = runs.map((s) => s[k] ?? Number.NaN);
        return `${median(values).toFixed(d)} (${Math.min(...values).toFixed(d)}–${Math.max(...values).toFixed(d)})`;
      };
      out.push(`| ${runs[0]?.label ?? variant ?? 'rabbit-worker'} | ${runs.length} | ${range('startMs', 0)} | ${range('startCpuMs', 0)} | ${range('totalRssMb', 1)} | ${range('supervisorRssMb', 1)} |`);
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
  ];
  if (r.notes.length > 0) lines.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  return `${lines.join('\n')}\n`;
}
