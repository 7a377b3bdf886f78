import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export type Section = 'drain' | 'latency' | 'cost' | 'cpu';
export const SECTIONS: Section[] = ['drain', 'latency', 'cost', 'cpu'];

export interface BenchOptions {
  /** Messages per drain at prefetch 100. */
  messages: number;
  /** Messages per drain at prefetch 1 (about 10× slower per message, so fewer). */
  messagesP1: number;
  rounds: number;
  /** System ids to run, baseline always included. */
  only: string[] | undefined;
  sections: Section[];
  queueTypes: Array<'quorum' | 'classic'>;
  prefetches: number[];
  latencySeconds: number;
  latencyRate: number;
  latencyRounds: number;
  coldStarts: number;
  /** Messages per run of the CPU-bound section (each burns ~cpuMs of CPU in the callback). */
  cpuMessages: number;
  /** CPU time each callback of the CPU-bound section burns, ms (the work is calibrated once to it). */
  cpuMs: number;
  /** Alternating rounds of the CPU-bound section. */
  cpuRounds: number;
  /** Another checkout of rabbit-worker (built), whose worker start and supervisor alternate with this one's in the cost section. */
  base: string | undefined;
  quick: boolean;
  /** Markdown report path, or undefined to only print. */
  out: string | undefined;
  amqpUrl: string;
  redisPort: number;
}

const HELP = `npm run bench -- [options]
  --messages N        messages per drain at prefetch 100 (default 50000)
  --messages-p1 N     messages per drain at prefetch 1 (default 10000)
  --rounds R          alternating rounds (default 3)
  --only a,b          systems: amqplib,rw-thread,rw-nometrics,rw-tracing,rw-none,rascal,rabbitmq-client,bullmq
                      (amqplib always runs); "metrics" = rw-thread,rw-nometrics (the cost of metrics);
                      "tracing" = rw-thread,rw-tracing (the cost of tracing)
  --sections s        drain,latency,cost,cpu (default all):
                      drain    throughput against raw amqplib and peers
                      latency  publish → callback at a fixed rate
                      cost     start to consuming, idle RSS, memory breakdown of one worker, and
                               \`supervise\` with 1 type × 4 processes and 20 types × 1 process
                      cpu      a CPU-bound callback: 1 process with --threads 2 vs 2 processes
                               with --threads 1 (throughput and total RSS while busy)
  --queue-types t     quorum,classic (default both)
  --prefetch p        100,1 (default both)
  --latency-seconds S publishing time per latency run (default 10)
  --cold-starts N     worker starts per system in the cost section (default 5)
  --cpu-messages N    messages per run of the cpu section (default 2000)
  --cpu-ms MS         CPU time per callback in the cpu section (default 5)
  --cpu-rounds R      alternating rounds of the cpu section (default 3)
  --base PATH         another checkout of rabbit-worker, built (e.g. main in a worktree): its worker start
                      and supervisor alternate with this one's in the cost section
  --quick             smoke run: 2000 messages, 1 round, 2 s latency runs, 400 CPU-bound messages;
                      prints only
  --out PATH          write the markdown report there (default docs/benchmarks.md for a full run;
                      --quick and --only print only unless --out is given)
  --no-write          never write the report`;

function list(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function positive(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: expected a positive integer, got "${value}"`);
  return n;
}

export function parseOptions(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      messages: { type: 'string' },
      'messages-p1': { type: 'string' },
      rounds: { type: 'string' },
      only: { type: 'string' },
      sections: { type: 'string' },
      'queue-types': { type: 'string' },
      prefetch: { type: 'string' },
      'latency-seconds': { type: 'string' },
      'cold-starts': { type: 'string' },
      'cpu-messages': { type: 'string' },
      'cpu-ms': { type: 'string' },
      'cpu-rounds': { type: 'string' },
      base: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help === true) return 'help';
  const quick = values.quick === true;
  const only = list(values.only);
  const sections = (list(values.sections) ?? SECTIONS) as Section[];
  for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--sections: unknown section "${s}"`);
  const queueTypes = (list(values['queue-types']) ?? ['quorum', 'classic']) as Array<'quorum' | 'classic'>;
  for (const t of queueTypes) if (t !== 'quorum' && t !== 'classic') throw new Error(`--queue-types: unknown type "${t}"`);
  const prefetches = (list(values.prefetch) ?? ['100', '1']).map((p) => positive(p, '--prefetch', 1));
  const defaultOut = quick || only !== undefined ? undefined : 'docs/benchmarks.md';
  return {
    messages: positive(values.messages, '--messages', quick ? 2000 : 50_000),
    messagesP1: positive(values['messages-p1'], '--messages-p1', quick ? 1000 : 10_000),
    rounds: positive(values.rounds, '--rounds', quick ? 1 : 3),
    only,
    sections,
    queueTypes,
    prefetches,
    latencySeconds: positive(values['latency-seconds'], '--latency-seconds', quick ? 2 : 10),
    latencyRate: 1000,
    latencyRounds: quick ? 1 : 3,
    coldStarts: positive(values['cold-starts'], '--cold-starts', quick ? 1 : 5),
    cpuMessages: positive(values['cpu-messages'], '--cpu-messages', quick ? 400 : 2000),
    cpuMs: positive(values['cpu-ms'], '--cpu-ms', 5),
    cpuRounds: positive(values['cpu-rounds'], '--cpu-rounds', quick ? 1 : 3),
    base: values.base === undefined ? undefined : resolve(values.base),
    quick,
    out: values['no-write'] === true ? undefined : (values.out ?? defaultOut),
    amqpUrl: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    redisPort: Number(process.env.BENCH_REDIS_PORT ?? 6379),
  };
}

export { HELP };
