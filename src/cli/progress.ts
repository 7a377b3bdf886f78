/** Where progress goes: a stream, and whether it is a terminal that can redraw a line. */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

const numbers = new Intl.NumberFormat('en-US');

/** `1,200`: thousands separated, for lines people read. */
export const formatCount = (n: number): string => numbers.format(Math.round(n));

/**
 * The progress of a long operation as one line: on a terminal redrawn in place (at most ten times a
 * second, since redrawing costs more than the work it reports), elsewhere (logs, CI) a new line every
 * `intervalMs` so that the output stays readable. `finish()` clears the live line; the caller prints
 * the summary.
 */
export class ProgressLine {
  readonly #out: ProgressOutput;
  readonly #intervalMs: number;
  readonly #started = Date.now();
  #lastDraw = 0;
  #drawn = false;

  constructor(out: ProgressOutput, options: { intervalMs?: number } = {}) {
    this.#out = out;
    this.#intervalMs = options.intervalMs ?? (out.isTTY === true ? 100 : 1000);
  }

  /** Items per second since the start. */
  rate(done: number): number {
    const seconds = (Date.now() - this.#started) / 1000;
    return seconds > 0 ? done / seconds : 0;
  }

  /** Reports `verb done / total (rate/s)`, throttled. */
  update(verb: string, done: number, total: number): void {
    const now = Date.now();
    if (now - this.#lastDraw < this.#intervalMs) return;
    this.#lastDraw = now;
    const line = `${verb} ${formatCount(done)} / ${formatCount(total)} (${formatCount(this.rate(done))}/s)`;
    if (this.#out.isTTY === true) {
      this.#out.write(`\r\x1b[K${line}`);
      this.#drawn = true;
    } else {
      this.#out.write(`${line}\n`);
    }
  }

  /** Clears the live line, if one was drawn. */
  finish(): void {
    if (this.#drawn) this.#out.write('\r\x1b[K');
    this.#drawn = false;
  }
}
