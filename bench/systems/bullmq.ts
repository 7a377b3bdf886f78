/**
 * BullMQ on Redis: a Worker with `concurrency` = the prefetch of the AMQP systems and an async processor.
 * Jobs are added with removeOnComplete, as production setups do, so Redis does not grow during the run.
 * The driver fills and deletes the queue with the helpers below (untimed).
 */
import { benchBody } from '../lib/broker.js';
import { announce, closeAfterDone, isMain, peerSystem, readJob, Tally } from './protocol.js';

export const bullmqSystem = peerSystem('bullmq', 'BullMQ (Redis)', './bullmq.ts', { backend: 'redis' });

const connection = (port: number) => ({ host: '127.0.0.1', port, maxRetriesPerRequest: null });

/** Adds `count` jobs of the same ~100-byte JSON payload, in bulk (not timed). */
export async function fillBullQueue(name: string, count: number, port: number): Promise<void> {
  const { Queue } = await import('bullmq');
  const queue = new Queue(name, { connection: connection(port) });
  try {
    const chunk = 1000;
    for (let i = 0; i < count; i += chunk) {
      const jobs = [];
      for (let j = i; j < Math.min(count, i + chunk); j++) {
        jobs.push({ name: 'job', data: JSON.parse(benchBody(j).toString()) as object, opts: { removeOnComplete: true, removeOnFail: true } });
      }
      await queue.addBulk(jobs);
    }
  } finally {
    await queue.close();
  }
}

/** Jobs still waiting, then every key of the queue removed. */
export async function deleteBullQueue(name: string, port: number): Promise<number> {
  const { Queue } = await import('bullmq');
  const queue = new Queue(name, { connection: connection(port) });
  try {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    await queue.obliterate({ force: true });
    return Object.values(counts).reduce((a, b) => a + b, 0);
  } finally {
    await queue.close();
  }
}

async function consume(): Promise<void> {
  const { Worker } = await import('bullmq');
  const job = readJob();
  const tally = new Tally(job);
  const worker = new Worker(
    job.queue,
    async (bullJob) => {
      tally.received(bullJob.data as object);
    },
    { connection: connection(job.redisPort), concurrency: job.prefetch },
  );
  worker.on('error', (error) => console.error(error));
  // 'completed' fires once the job was moved to completed in Redis: BullMQ's ack.
  worker.on('completed', () => {
    if (tally.acked()) closeAfterDone(() => worker.close());
  });
  await worker.waitUntilReady();
  announce('consuming');
}

if (isMain(import.meta.url)) await consume();
