// The main thread's side of the memory breakdown (bench/memory.ts), loaded with `node --import` before
// rabbit-worker: every 500 ms, `process.memoryUsage()` and the V8 heap statistics of the main thread go to
// `$BENCH_MEMORY_DIR/main.json` (written whole, then renamed). --import also runs in worker threads: there
// it does nothing (the isolate's figures come from memory-worker.ts).
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { setInterval } from 'node:timers';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.BENCH_MEMORY_DIR;
if (dir !== undefined && isMainThread) {
  const file = join(dir, 'main.json');
  const write = () => {
    const code = getHeapSpaceStatistics().find((s) => s.space_name === 'code_space');
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify({ at: Date.now(), usage: process.memoryUsage(), heap: getHeapStatistics(), codeSpaceBytes: code?.space_used_size ?? null }));
      renameSync(`${file}.tmp`, file);
    } catch {
      // the driver removed the folder: the run is over
    }
  };
  write();
  setInterval(write, 500).unref();
}
