/**
 * The CPU-bound job of the `cpu` section: each callback does a fixed amount of synchronous work — chained
 * SHA-256 over a 4 KiB block, BENCH_CPU_ITERATIONS times, which the driver calibrated to ~5 ms of CPU on
 * this machine — then acks and logs `cpu settled`, which the driver counts across processes. A fixed
 * amount of work rather than a time-boxed busy loop: a callback that shares its core with another does the
 * same work more slowly, as an image resize would, instead of doing less.
 */
import { createHash } from 'node:crypto';
import { WorkerTask, type MessageAdapter } from 'rabbit-worker';

const BLOCK = Buffer.alloc(4096, 0x5a);
const ITERATIONS = Number(process.env.BENCH_CPU_ITERATIONS ?? 500);

/** The work of one message; also what the driver times to calibrate `iterations`. */
export function burn(iterations: number): string {
  let digest = '';
  for (let i = 0; i < iterations; i++) digest = createHash('sha256').update(BLOCK).update(digest).digest('hex');
  return digest;
}

export default class CpuWorker extends WorkerTask {
  override initialize(): void {
    super.initialize();
    this.setQueue('bench-cpu'); // the bench passes --queue
  }

  override async callback(message: MessageAdapter): Promise<void> {
    burn(ITERATIONS);
    message.ack();
    this.logger.info('cpu settled');
  }
}
