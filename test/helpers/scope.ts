import { after } from 'node:test';
import { closeConnection, deleteQueues, uniqueQueue } from './broker.js';
import type { Proc } from './process.js';

/**
 * What a test file creates, cleaned up after it: its queues (with their dead-letter and retry queues)
 * are deleted and its processes killed. Call it once, inside `describe`.
 */
export function testScope(): { queues: string[]; queue(prefix: string): string; track(p: Proc): Proc } {
  const queues: string[] = [];
  const procs: Proc[] = [];
  after(async () => {
    procs.forEach((p) => p.kill('SIGKILL'));
    await deleteQueues(...queues);
    await closeConnection();
  });
  return {
    queues,
    queue(prefix: string): string {
      const q = uniqueQueue(prefix);
      queues.push(q);
      return q;
    },
    track(p: Proc): Proc {
      procs.push(p);
      return p;
    },
  };
}
