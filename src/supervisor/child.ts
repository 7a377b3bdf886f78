import { spawn, type ChildProcess } from 'node:child_process';
import { isMetricSnapshot, type MetricSnapshot } from '../metrics/snapshot.js';
import type { WorkerFailureReport, WorkerMetricsReport, WorkerState, WorkerStatusReport } from '../worker/status-report.js';
import { runCommand, workerEnv } from './command.js';
import type { WorkerTypeConfig } from './config.js';
import { pipeTagged, type OutputFormat } from './output.js';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The supervisor had to SIGKILL it (or its group) because it did not stop within its stop wait. */
  killed: boolean;
  at: number;
}

/** The last status the worker sent over IPC, with when it arrived. */
export interface LastReport {
  state: WorkerState;
  /** The queue it consumes. */
  queue: string;
  handled: number;
  inflight: number;
  inflightIds: string[];
  at: number;
  /** The worker's stopTimeout, if its reports carry it. */
  stopTimeout?: number;
}

export interface ChildOptions {
  type: WorkerTypeConfig;
  proc: string;
  cwd: string;
  format: OutputFormat;
  write: (line: string) => void;
  /** Called on every status report. */
  onReport: (report: LastReport) => void;
}

function isStatusReport(message: unknown): message is WorkerStatusReport & { stopTimeout?: unknown } {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'rabbit-worker:status';
}

function isMetricsReport(message: unknown): message is WorkerMetricsReport {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'rabbit-worker:metrics' && Array.isArray((message as { metrics?: unknown }).metrics);
}

function isFailureReport(message: unknown): message is WorkerFailureReport {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'rabbit-worker:failure' && typeof (message as { message?: unknown }).message === 'string';
}

/**
 * One running `rabbit-worker run` process: spawned in its own process group (so that a SIGKILL reaches
 * whatever it started too), with an IPC channel for status reports, its output tagged with its name.
 */
export class WorkerChild {
  readonly proc: string;
  readonly startedAt = Date.now();
  readonly exited: Promise<ChildExit>;
  readonly stderrTail: string[] = [];
  report: LastReport | undefined;
  /** Why it is about to exit, as it said itself (credentials refused, a bad setting, …). */
  failure: { code?: string; message: string } | undefined;
  /** Its metrics as it last reported them (every 2 s, and once more as it stops). */
  metrics: MetricSnapshot[] = [];
  /** Its resident memory in MB, as it last reported it. */
  rssMb: number | undefined;
  #child: ChildProcess;
  #killed = false;
  #stopping: Promise<ChildExit> | undefined;
  #exit: ChildExit | undefined;
  /** The process itself ended (its output may still be flowing). */
  #gone = false;

  constructor(options: ChildOptions) {
    this.proc = options.proc;
    const { command, args } = runCommand(options.type);
    // the supervisor's endpoint serves every process: a port of their own (set in initialize() for a
    // container) would be taken by the first of them only, unless the config file names one on purpose
    if (options.type.overrides.httpPort === undefined) args.push('--http-port', '0');
    this.#child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, LOG_FORMAT: 'json', RABBIT_WORKER_PROCESS: options.proc, ...workerEnv(options.type) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    const child = this.#child;
    if (child.stdout) pipeTagged(child.stdout, this.proc, 'stdout', options.format, [], options.write);
    if (child.stderr) pipeTagged(child.stderr, this.proc, 'stderr', options.format, this.stderrTail, options.write);
    child.on('message', (message: unknown) => {
      if (isFailureReport(message)) {
        this.failure = { message: message.message.slice(0, 500), ...(typeof message.code === 'string' ? { code: message.code } : {}) };
        return;
      }
      if (isMetricsReport(message)) {
        this.metrics = message.metrics.filter(isMetricSnapshot);
        if (typeof message.rssMb === 'number') this.rssMb = message.rssMb;
        return;
      }
      if (!isStatusReport(message)) return;
      this.report = {
        state: message.state,
        queue: typeof message.queue === 'string' ? message.queue : '',
        handled: message.handled,
        inflight: message.inflight,
        inflightIds: Array.isArray(message.inflightIds) ? message.inflightIds.map(String) : [],
        at: Date.now(),
        ...(typeof message.stopTimeout === 'number' ? { stopTimeout: message.stopTimeout } : {}),
      };
      options.onReport(this.report);
    });
    this.exited = new Promise((resolve) => {
      child.on('error', () => {
        if (child.pid === undefined) this.#finish(resolve, 1, null);
      });
      // 'close' comes after the last output line; 'exit' can come before it. A grandchild that escaped the
      // group could hold the pipes open, so 'exit' settles it too after a moment.
      child.on('exit', (code, signal) => {
        this.#gone = true;
        this.#signalGroup('SIGKILL'); // whatever the worker started and left behind in its group goes with it
        setTimeout(() => this.#finish(resolve, code, signal), 2000).unref();
      });
      child.on('close', (code: number | null, signal: NodeJS.Signals | null) => this.#finish(resolve, code, signal));
    });
  }

  #finish(resolve: (exit: ChildExit) => void, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#exit !== undefined) return;
    this.#exit = { code, signal, killed: this.#killed, at: Date.now() };
    resolve(this.#exit);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get alive(): boolean {
    return !this.#gone && this.#exit === undefined;
  }

  uptimeMs(now = Date.now()): number {
    return (this.#exit?.at ?? now) - this.startedAt;
  }

  /** SIGTERM to the group (as supervisord's stopasgroup); SIGKILL to the group after `waitSeconds`. */
  stop(waitSeconds: number): Promise<ChildExit> {
    if (this.#stopping !== undefined) return this.#stopping;
    if (!this.alive) return this.exited;
    this.#signalGroup('SIGTERM');
    const timer = setTimeout(() => this.kill(), waitSeconds * 1000);
    this.#stopping = this.exited.finally(() => clearTimeout(timer));
    return this.#stopping;
  }

  /** SIGKILL the process and its group now. */
  kill(): void {
    if (!this.alive) return;
    this.#killed = true;
    this.#signalGroup('SIGKILL');
  }

  #signalGroup(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone; signal the process itself only while it has not been reaped (its pid is still ours)
      if (this.alive) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      }
    }
  }
}
