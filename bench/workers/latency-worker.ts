/**
 * The latency job: the publisher put process.hrtime.bigint() (CLOCK_MONOTONIC, shared by every process
 * and thread of the machine) in the body; the callback records now − stamp. When the expected count is
 * reached it writes the latencies (µs) to BENCH_LATENCY_OUT. Works in the isolate thread as well.
 */
import { writeFileSync } from 'node:fs';
import { WorkerTask, type MessageAdapter } from 'rabbit-worker';

export default class LatencyWorker extends WorkerTask {
  readonly #expected = Number(process.env.BENCH_LATENCY_COUNT ?? 0);
  readonly #latencies = new Float64Array(this.#expected);
  #count = 0;

  override initialize(): void {
    super.initialize();
    this.setQueue('bench-latency');
  }

  override async callback(message: MessageAdapter<{ t: string }>): Promise<void> {
    const now = process.hrtime.bigint();
    const { t } = message.json();
    if (this.#count < this.#expected) this.#latencies[this.#count] = Number(now - BigInt(t)) / 1000;
    message.ack();
    if (++this.#count === this.#expected && process.env.BENCH_LATENCY_OUT !== undefined) {
      writeFileSync(process.env.BENCH_LATENCY_OUT, JSON.stringify(Array.from(this.#latencies)));
    }
  }
}
