import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';

/** One handling of a message, as a worker recorded it. */
export interface Handling {
  n: number;
  at: number;
  /** The record file: `<type>-<pid>.rec`. */
  file: string;
}

/**
 * Reads the workers' record files as they grow (each poll reads only the new bytes, keeping a partial
 * last line for the next poll) and keeps the tallies: how often each number was handled, when first,
 * and by whom; the timestamps of every handling per worker type, for recovery times.
 */
export class RecordTally {
  readonly #dir: string;
  readonly #offsets = new Map<string, number>();
  readonly #partial = new Map<string, string>();
  readonly #fileIndex = new Map<string, number>();
  readonly files: string[] = [];
  /** Handlings per number, saturating at 255. */
  readonly counts: Uint8Array;
  readonly firstAt: Float64Array;
  readonly firstFile: Int32Array;
  /** Every handling after the first of its number. */
  readonly repeats: Handling[] = [];
  /** Handling timestamps per type (unsorted). */
  readonly timesByType = new Map<string, number[]>();
  distinct = 0;
  total = 0;
  /** Lines that were not `<number> <timestamp>` with a number in range. */
  malformed = 0;

  constructor(dir: string, messages: number) {
    this.#dir = dir;
    this.counts = new Uint8Array(messages);
    this.firstAt = new Float64Array(messages);
    this.firstFile = new Int32Array(messages).fill(-1);
  }

  /** Reads whatever was appended since the last poll. */
  poll(): void {
    for (const name of readdirSync(this.#dir)) {
      if (!name.endsWith('.rec')) continue;
      this.#readNew(name);
    }
  }

  #readNew(name: string): void {
    let index = this.#fileIndex.get(name);
    if (index === undefined) {
      index = this.files.length;
      this.files.push(name);
      this.#fileIndex.set(name, index);
    }
    const type = name.slice(0, name.lastIndexOf('-'));
    let times = this.timesByType.get(type);
    if (times === undefined) this.timesByType.set(type, (times = []));
    const fd = openSync(join(this.#dir, name), 'r');
    try {
      let offset = this.#offsets.get(name) ?? 0;
      const buffer = Buffer.alloc(1 << 20);
      for (;;) {
        const read = readSync(fd, buffer, 0, buffer.length, offset);
        if (read === 0) break;
        offset += read;
        const text = (this.#partial.get(name) ?? '') + buffer.toString('latin1', 0, read);
        const end = text.lastIndexOf('\n');
        this.#partial.set(name, text.slice(end + 1));
        if (end >= 0) this.#ingest(text.slice(0, end), index, times);
      }
      this.#offsets.set(name, offset);
    } finally {
      closeSync(fd);
    }
  }

  #ingest(block: string, file: number, times: number[]): void {
    for (const line of block.split('\n')) {
      const space = line.indexOf(' ');
      const n = Number(line.slice(0, space));
      const at = Number(line.slice(space + 1));
      if (space < 1 || !Number.isInteger(n) || n < 0 || n >= this.counts.length || !Number.isFinite(at)) {
        this.malformed += 1;
        continue;
      }
      this.total += 1;
      times.push(at);
      const count = this.counts[n] as number;
      if (count === 0) {
        this.distinct += 1;
        this.firstAt[n] = at;
        this.firstFile[n] = file;
      } else {
        this.repeats.push({ n, at, file: this.files[file] as string });
      }
      if (count < 255) this.counts[n] = count + 1;
    }
  }
}
