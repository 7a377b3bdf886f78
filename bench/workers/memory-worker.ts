/**
 * The idle worker of the memory breakdown (bench/memory.ts): it acks what it gets and, from the isolate it
 * is loaded in, writes that isolate's `process.memoryUsage()` and V8 heap statistics every 500 ms to
 * `$BENCH_MEMORY_DIR/isolate-<threadId>.json` (written whole, then renamed: the driver never reads half a
 * file). The main thread's figures come from memory-preload.mjs.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { isMainThread, threadId } from 'node:worker_threads';
import { WorkerTask, type MessageAdapter } from 'rabbit-worker';

function snapshot(): Record<string, unknown> {
  const code = getHeapSpaceStatistics().find((s) => s.space_name === 'code_space');
  return { at: Date.now(), isMainThread, threadId, usage: process.memoryUsage(), heap: getHeapStatistics(), codeSpaceBytes: code?.space_used_size ?? null };
}

export default class MemoryWorker extends WorkerTask {
  override initialize(): void {
    super.initialize();
    this.setQueue('bench-memory'); // the bench passes --queue
    const dir = process.env.BENCH_MEMORY_DIR;
    if (dir === undefined) return;
    const file = join(dir, `${isMainThread ? 'inline' : 'isolate'}-${threadId}.json`);
    const write = (): void => {
      try {
        writeFileSync(`${file}.tmp`, JSON.stringify(snapshot()));
        renameSync(`${file}.tmp`, file);
      } catch {
        // the driver removed the folder: the run is over
      }
    };
    write();
    setInterval(write, 500).unref();
  }

  override async callback(message: MessageAdapter): Promise<void> {
    message.ack();
  }
}
