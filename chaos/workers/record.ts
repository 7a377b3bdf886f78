import { openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

let fd: number | undefined;

/**
 * Appends `<number> <timestamp>` to this process's record file, synchronously, before the message is
 * acked: a SIGKILL after the write and before the ack can only show up as a duplicate, never as a loss.
 * The file is per process (`<type>-<pid>.rec`); a fresh isolate of the same process appends to it too
 * (O_APPEND: each short write lands whole).
 */
export function recordHandled(n: number): void {
  if (fd === undefined) {
    const dir = process.env.CHAOS_RECORDS;
    if (dir === undefined || dir === '') throw new Error('CHAOS_RECORDS is not set: run this worker through npm run chaos');
    fd = openSync(join(dir, `${process.env.CHAOS_TYPE ?? 'worker'}-${process.pid}.rec`), 'a');
  }
  writeSync(fd, `${n} ${Date.now()}\n`);
}
