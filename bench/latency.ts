/**
 * Latency at a fixed rate below saturation: the driver publishes `rate` msgs/s for `seconds` into a fresh
 * quorum queue (rabbit-worker's default), each body stamped with process.hrtime.bigint() just before its
 * publish; the consumer (prefetch 100) records callback-entry time − stamp. Same machine, same monotonic
 * clock. The first second is warm-up (JIT, connection) and is left out of the percentiles.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchOptions } from './lib/args.js';
import { benchBody, type BrokerAdmin } from './lib/broker.js';
import { exitWithin, spawnChild } from './lib/children.js';
import { quantile } from './lib/stats.js';
import type { ConsumerJob, System } from './systems/types.js';

export interface LatencySample {
  system: string;
  round: number;
  /** µs */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  count: number;
  /** msgs/s actually published. */
  rate: number;
  error?: string;
}

interface Context {
  admin: BrokerAdmin;
  options: BenchOptions;
  cwd: string;
}

/** Publishes `total` messages at `rate`/s: each timer tick sends what is due by now (usually 1–2). */
async function publishAtRate(admin: BrokerAdmin, queue: string, rate: number, total: number): Promise<number> {
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    while (sent < due) {
      admin.publish(queue, benchBody(sent, { t: process.hrtime.bigint().toString() }));
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const seconds = (performance.now() - start) / 1000;
  await admin.waitForConfirms();
  return total / seconds;
}

async function latencyOnce(system: System, round: number, ctx: Context): Promise<LatencySample> {
  const { admin, options } = ctx;
  const total = options.latencyRate * options.latencySeconds;
  const sample: LatencySample = { system: system.id, round, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN, count: 0, rate: Number.NaN };
  const queue = await admin.createQueue('quorum', `lat-${system.id}`);
  const outFile = join(tmpdir(), `rabbit-worker-bench-latency-${process.pid}-${system.id}-${round}.json`);
  let child: ReturnType<typeof spawnChild> | undefined;
  try {
    const job: ConsumerJob = { mode: 'latency', queue, queueType: 'quorum', prefetch: 100, messages: total, amqpUrl: options.amqpUrl, redisPort: options.redisPort, outFile };
    const command = system.command(job);
    child = spawnChild(command.command, command.args, command.env, ctx.cwd);
    await child.waitFor(system.isConsuming, 60_000, `${system.id}: consuming`);
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the consumer settle after start-up
    sample.rate = await publishAtRate(admin, queue, options.latencyRate, total);
    await child.waitFor(system.isDone, 60_000, `${system.id}: last message`);
    await exitWithin(child, 15_000);
    const latencies = (JSON.parse(readFileSync(outFile, 'utf8')) as number[]).slice(options.latencyRate);
    sample.count = latencies.length;
    sample.p50 = quantile(latencies, 0.5);
    sample.p90 = quantile(latencies, 0.9);
    sample.p99 = quantile(latencies, 0.99);
    sample.max = quantile(latencies, 1);
  } catch (error) {
    sample.error = error instanceof Error ? error.message : String(error);
  } finally {
    await child?.stop(2000);
    rmSync(outFile, { force: true });
    await admin.deleteQueue(queue).catch(() => {});
  }
  return sample;
}

export async function runLatency(systems: System[], ctx: Context, log: (line: string) => void): Promise<LatencySample[]> {
  const samples: LatencySample[] = [];
  for (let round = 1; round <= ctx.options.latencyRounds; round++) {
    for (const system of systems) {
      const s = await latencyOnce(system, round, ctx);
      samples.push(s);
      log(
        s.error === undefined
          ? `latency round ${round} ${system.id.padEnd(16)} p50 ${(s.p50 / 1000).toFixed(2)} ms  p99 ${(s.p99 / 1000).toFixed(2)} ms  max ${(s.max / 1000).toFixed(2)} ms  (${Math.round(s.rate)} msgs/s, ${s.count} samples)`
          : `latency round ${round} ${system.id} FAILED: ${s.error}`,
      );
    }
  }
  return samples;
}
