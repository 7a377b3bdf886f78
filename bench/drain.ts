/**
 * The drain job: N persistent ~100-byte JSON messages pre-published (untimed), then one fresh consumer
 * process per system drains them with a trivial callback. Systems alternate A B C … within every
 * (round, cell), so that drift of this shared, noisy machine hits them all alike.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { BenchOptions } from './lib/args.js';
import type { BrokerAdmin, QueueType } from './lib/broker.js';
import { exitWithin, spawnChild } from './lib/children.js';
import { deleteBullQueue, fillBullQueue } from './systems/bullmq.js';
import type { ConsumerJob, System } from './systems/types.js';

export interface Cell {
  queueType: QueueType;
  prefetch: number;
  messages: number;
}

export interface DrainSample {
  system: string;
  cell: Cell;
  round: number;
  /** ms from the consumer's "consuming" line to its last ack; NaN on failure. */
  fromConsumingMs: number;
  /** ms from spawn() to the last ack (includes loading, connecting, declaring). */
  fromSpawnMs: number;
  /** ms from spawn() to "consuming". */
  startMs: number;
  error?: string;
}

export const cellKey = (cell: Pick<Cell, 'queueType' | 'prefetch'>): string => `${cell.queueType}/p${cell.prefetch}`;

export function cellsOf(options: BenchOptions): Cell[] {
  const cells: Cell[] = [];
  for (const prefetch of options.prefetches) {
    for (const queueType of options.queueTypes) cells.push({ queueType, prefetch, messages: prefetch === 1 ? options.messagesP1 : options.messages });
  }
  return cells;
}

interface Context {
  admin: BrokerAdmin;
  options: BenchOptions;
  cwd: string;
}

async function drainOnce(system: System, cell: Cell, round: number, ctx: Context): Promise<DrainSample> {
  const { admin, options } = ctx;
  const sample: DrainSample = { system: system.id, cell, round, fromConsumingMs: Number.NaN, fromSpawnMs: Number.NaN, startMs: Number.NaN };
  const redis = system.backend === 'redis';
  const queue = redis ? `bench-bullmq-${process.pid}-${randomUUID().slice(0, 8)}` : await admin.createQueue(cell.queueType, system.id);
  let child: ReturnType<typeof spawnChild> | undefined;
  try {
    if (redis) await fillBullQueue(queue, cell.messages, options.redisPort);
    else await admin.fill(queue, cell.messages);
    const job: ConsumerJob = { mode: 'drain', queue, queueType: cell.queueType, prefetch: cell.prefetch, messages: cell.messages, amqpUrl: options.amqpUrl, redisPort: options.redisPort };
    const command = system.command(job);
    child = spawnChild(command.command, command.args, command.env, ctx.cwd);
    const consuming = await child.waitFor(system.isConsuming, 60_000, `${system.id}: consuming`);
    // A generous bound: far below it even at prefetch 1 on a busy box.
    const done = await child.waitFor(system.isDone, Math.max(120_000, cell.messages * 5), `${system.id}: last ack`);
    const code = await exitWithin(child, 30_000);
    if (code !== 0) throw new Error(`${system.id} exited with ${code} after draining\n${child.tail()}`);
    const left = redis ? await deleteBullQueue(queue, options.redisPort) : await admin.readyCount(queue);
    if (left !== 0) throw new Error(`${left} message(s) left in ${queue} after ${system.id} reported done`);
    sample.startMs = consuming.at - child.spawnedAt;
    sample.fromConsumingMs = done.at - consuming.at;
    sample.fromSpawnMs = done.at - child.spawnedAt;
  } catch (error) {
    sample.error = error instanceof Error ? error.message : String(error);
  } finally {
    await child?.stop(2000);
    if (redis) await deleteBullQueue(queue, options.redisPort).catch(() => {});
    else await admin.deleteQueue(queue).catch(() => {});
  }
  return sample;
}

export async function runDrains(systems: System[], ctx: Context, log: (line: string) => void): Promise<DrainSample[]> {
  const samples: DrainSample[] = [];
  const cells = cellsOf(ctx.options);
  const started = performance.now();
  for (let round = 1; round <= ctx.options.rounds; round++) {
    for (const cell of cells) {
      for (const system of systems) {
        const sample = await drainOnce(system, cell, round, ctx);
        samples.push(sample);
        const rate = (cell.messages / sample.fromConsumingMs) * 1000;
        const elapsed = ((performance.now() - started) / 1000).toFixed(0);
        log(
          sample.error === undefined
            ? `[${elapsed}s] round ${round} ${cellKey(cell)} ${system.id.padEnd(16)} ${Math.round(rate).toString().padStart(6)} msgs/s  (drain ${sample.fromConsumingMs.toFixed(0)} ms, start ${sample.startMs.toFixed(0)} ms)`
            : `[${elapsed}s] round ${round} ${cellKey(cell)} ${system.id.padEnd(16)} FAILED: ${sample.error.split('\n')[0]}`,
        );
        if (sample.error !== undefined) log(sample.error.split('\n').slice(1).join('\n'));
      }
    }
  }
  return samples;
}
