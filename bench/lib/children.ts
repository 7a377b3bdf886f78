import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

/** Every child still alive: killed on any way out of the driver, so a bench never leaves processes behind. */
const live = new Set<ChildProcess>();

export interface LineEvent {
  /** performance.now() in the driver when the line arrived; all systems are timed the same way. */
  at: number;
  line: string;
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  /** performance.now() just before spawn(). */
  readonly spawnedAt: number;
  /** The first stdout line (past or future) that `match` accepts; rejects on exit or after `timeoutMs`. */
  waitFor(match: (line: string) => boolean, timeoutMs: number, what: string): Promise<LineEvent>;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** The last lines of stderr and stdout, for error messages. */
  tail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

interface Waiter {
  match: (line: string) => boolean;
  resolve: (event: LineEvent) => void;
}

export function spawnChild(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Spawned {
  const spawnedAt = performance.now();
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const lines: LineEvent[] = [];
  const waiters = new Set<Waiter>();
  const tailLines: string[] = [];
  const keep = (text: string): void => {
    tailLines.push(text);
    if (tailLines.length > 30) tailLines.shift();
  };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const event = { at: performance.now(), line };
    keep(line);
    // Only the lines a waiter may still ask for are kept; pino's info lines are few.
    if (lines.length < 1000) lines.push(event);
    for (const waiter of waiters) {
      if (waiter.match(line)) {
        waiters.delete(waiter);
        waiter.resolve(event);
      }
    }
  });
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => keep(`stderr: ${line}`));
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      live.delete(child);
      resolve(code);
    });
    child.on('error', (error) => {
      keep(`spawn error: ${error.message}`);
      live.delete(child);
      resolve(-1);
    });
  });
  const tail = (): string => tailLines.join('\n');
  return {
    child,
    pid: child.pid ?? -1,
    spawnedAt,
    exited,
    tail,
    waitFor(match, timeoutMs, what) {
      const seen = lines.find((event) => match(event.line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<LineEvent>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined = undefined;
        const waiter: Waiter = {
          match,
          resolve: (event) => {
            clearTimeout(timer);
            resolve(event);
          },
        };
        waiters.add(waiter);
        timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${tail()}`));
        }, timeoutMs);
        void exited.then((code) => {
          if (!waiters.delete(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`process exited (code ${code}) before ${what}\n${tail()}`));
        });
      });
    },
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Last resort on the way out: synchronous, so it also works from an 'exit' handler. */
export function killAllChildren(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

/** Parses a JSON stdout line, or undefined for anything else. */
export function jsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The exit code, or 'timeout' after `ms`; the timer is cleared so that it never holds the driver open. */
export async function exitWithin(spawned: Spawned, ms: number): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([spawned.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
