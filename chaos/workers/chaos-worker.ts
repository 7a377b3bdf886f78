import { WorkerTask, type MessageAdapter } from 'rabbit-worker';
import { recordHandled } from './record.js';

/** A numbered message, or a poison one that exhausts the heap of whoever handles it. */
export type ChaosBody = { n: number } | { poison: number };

/**
 * The chaos run's worker: records the number of each message it handles, then acks. Its settings
 * (prefetch, queue type, isolation) come from the generated supervisor config; the queue from CHAOS_QUEUE.
 */
export default class ChaosWorker extends WorkerTask {
  override initialize(): void {
    super.initialize();
    this.setQueue(process.env.CHAOS_QUEUE ?? '');
    this.logger.setMainLogger(`chaos-${process.env.CHAOS_TYPE ?? 'worker'}`);
  }

  async callback(message: MessageAdapter<ChaosBody>): Promise<void> {
    const body = message.json();
    if ('poison' in body) exhaustHeap();
    else recordHandled(body.n);
    message.ack();
  }
}

/** Allocates until the heap limit kills the isolate (or, with isolation 'none', the process). */
function exhaustHeap(): never {
  const hog: string[][] = [];
  for (;;) hog.push(new Array(100_000).fill(`chaos-${Math.random()}`));
}
