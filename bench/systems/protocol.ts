/**
 * The tiny stdout protocol of the peer consumers (amqplib, rascal, rabbitmq-client, BullMQ): one JSON line
 * when consuming, one when the last message was acked. Stdout to a pipe is synchronous on Linux, so the
 * driver's receive time is a faithful timestamp.
 */
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { ChildCommand, ConsumerJob, System } from './types.js';

export function announce(event: 'consuming' | 'done', fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ bench: event, ...fields })}\n`);
}

export function readJob(): ConsumerJob {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('usage: node --import tsx <consumer>.ts <job JSON> (or node <consumer>.mjs <job JSON>)');
  return JSON.parse(raw) as ConsumerJob;
}

/**
 * Counts messages, records publish→callback latency in latency mode, and announces `done` once every
 * expected message was handled. `finish` runs after that (close the connection, exit).
 */
export class Tally {
  readonly #job: ConsumerJob;
  readonly #latencies: Float64Array | undefined;
  #count = 0;

  constructor(job: ConsumerJob) {
    this.#job = job;
    this.#latencies = job.mode === 'latency' ? new Float64Array(job.messages) : undefined;
  }

  /** At callback entry: for latency mode, parse the stamp (the same work rabbit-worker's latency worker does). */
  received(body: Buffer | string | object): void {
    if (this.#latencies === undefined) return;
    const now = process.hrtime.bigint();
    const parsed = (typeof body === 'object' && !Buffer.isBuffer(body) ? body : JSON.parse(body.toString())) as { t: string };
    if (this.#count < this.#latencies.length) this.#latencies[this.#count] = Number(now - BigInt(parsed.t)) / 1000;
  }

  /** After the ack; true for the last expected message. */
  acked(): boolean {
    this.#count++;
    if (this.#count !== this.#job.messages) return false;
    if (this.#latencies !== undefined && this.#job.outFile !== undefined) writeFileSync(this.#job.outFile, JSON.stringify(Array.from(this.#latencies)));
    announce('done', { count: this.#count });
    return true;
  }
}

const jsonField = (line: string): string | undefined => {
  if (!line.startsWith('{"bench"')) return undefined;
  return (JSON.parse(line) as { bench: string }).bench;
};

/**
 * A peer's consumer as plain JavaScript: its TypeScript file bundled once with esbuild (packages left
 * external) into the bench's cache, so that it runs with `node <file>.mjs` as a hand-written consumer would,
 * without tsx's loader (which costs a raw consumer ~150 ms of start and a thread's worth of RSS).
 */
function compiled(file: string): string {
  const source = new URL(file, import.meta.url).pathname;
  const out = join(CACHE, `${basename(source, '.ts')}.mjs`);
  // required here, not imported at the top: the consumers bundle this module and must not load esbuild
  const { buildSync } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  buildSync({ entryPoints: [source], outfile: out, bundle: true, platform: 'node', format: 'esm', packages: 'external', target: 'node20', logLevel: 'warning' });
  return out;
}
const CACHE = fileURLToPath(new URL('../../node_modules/.cache/rabbit-worker-bench/', import.meta.url));
const built = new Map<string, string>();

/**
 * A System whose consumer is one of the files in this folder, run under tsx as the bench always measured
 * them (the figures of the issues are against that), or with `plain` as plain JavaScript (see `compiled`):
 * the stricter reference of the cost section.
 */
export function peerSystem(id: string, label: string, file: string, options: { backend?: 'rabbitmq' | 'redis'; latency?: boolean; plain?: boolean } = {}): System {
  return {
    id,
    label,
    backend: options.backend ?? 'rabbitmq',
    latency: options.latency ?? false,
    command: (job: ConsumerJob): ChildCommand => {
      if (options.plain !== true) return { command: process.execPath, args: ['--import', 'tsx', new URL(file, import.meta.url).pathname, JSON.stringify(job)], env: { ...process.env } };
      let entry = built.get(file);
      if (entry === undefined) built.set(file, (entry = compiled(file)));
      return { command: process.execPath, args: [entry, JSON.stringify(job)], env: { ...process.env } };
    },
    isConsuming: (line) => jsonField(line) === 'consuming',
    isDone: (line) => jsonField(line) === 'done',
  };
}

/**
 * After `done` (untimed): waits before closing, because closing a channel right after its last acks can
 * get some of them ignored on RabbitMQ 3.10 quorum queues (the queue applies the consumer's exit before
 * the queued settles; measured: 20–65 of 2,000 messages requeued). Then `close`, then exit 0.
 */
export function closeAfterDone(close: () => Promise<unknown>): void {
  setTimeout(() => {
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  }, 300);
}

/** True when this module is the process's entry (the consumer child), false when the driver imports it. */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && new URL(moduleUrl).pathname === process.argv[1];
}
