import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/rabbit-worker.js', import.meta.url));
export const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

export type LogLine = Record<string, unknown> & { level?: string; msg?: string };

/**
 * Calls `each` with every complete line of `stream`, parsed when it is JSON (else `{ msg, raw: true }`),
 * then `after` once per chunk.
 */
export function onLines(stream: NodeJS.ReadableStream | null | undefined, each: (line: LogLine) => void, after?: () => void): void {
  let partial = '';
  stream?.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      try {
        each(JSON.parse(text) as LogLine);
      } catch {
        each({ msg: text, raw: true });
      }
    }
    after?.();
  });
}

/** A child process whose stdout JSON log lines are collected and can be waited for. */
export class Proc {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: Array<() => void> = [];

  constructor(args: string[], env: Record<string, string> = {}, options: { cwd?: string; ipc?: boolean } = {}) {
    this.child = spawn(process.execPath, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'debug', ...env },
      stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    onLines(this.child.stdout, (line) => this.lines.push(line), () => this.#wake());
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      this.#wake();
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => (this.#wake(), resolve({ code, signal }))));
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    waiters.forEach((w) => w());
  }

  /** Resolves with the first log line matching `predicate`; fails after `timeoutMs` with the output so far. */
  async waitFor(predicate: (line: LogLine) => boolean, timeoutMs = 20_000, what = 'a log line'): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${this.stdout.slice(-4000)}\n${this.stderr.slice(-2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, Math.min(500, deadline - Date.now())));
        this.#waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  /** Every line whose msg equals `msg`. */
  messages(msg: string): LogLine[] {
    return this.lines.filter((l) => l.msg === msg);
  }

  /** Waits for the exit, failing after `timeoutMs` (and killing the process then). */
  async exit(timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`process did not exit within ${timeoutMs} ms; output:\n${this.stdout.slice(-4000)}\n${this.stderr.slice(-2000)}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.child.kill(signal);
  }
}

/** `rabbit-worker run <file> …args` with QUEUE and other env. */
export function runWorker(file: string, args: string[] = [], env: Record<string, string> = {}): Proc {
  return new Proc([BIN, 'run', file, '--connect-attempts', '2', ...args], env);
}

/** Any `rabbit-worker` command. */
export function cli(args: string[], env: Record<string, string> = {}, options: { cwd?: string } = {}): Proc {
  return new Proc([BIN, ...args], env, options);
}

/** Waits until the worker says it is consuming. */
export const consuming = (p: Proc): Promise<LogLine> => p.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('consuming '), 30_000, 'consuming');
