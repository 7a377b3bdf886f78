import { ConfigError, ErrorCode, RabbitWorkerError } from '../errors.js';
import { Lifecycle } from '../lifecycle.js';
import type { Logger } from '../log/logger.js';
import type { WorkerState } from '../worker/status-report.js';
import type { MetricSnapshot } from '../metrics/snapshot.js';
import { WorkerChild, type ChildExit } from './child.js';
import { ChildMetrics } from './child-metrics.js';
import { processName } from './command.js';
import { STOP_MARGIN_SECONDS, type SupervisorConfig, type WorkerTypeConfig } from './config.js';
import type { OutputFormat } from './output.js';
import { decideRestart, describeExit, type SlotCounters } from './restart-policy.js';

/**
 * - `starting`: spawned; not yet consuming for `startSeconds`;
 * - `running`: started (a later failure restarts it with backoff);
 * - `backoff`: ended with a failure; waiting to be started again;
 * - `stopping`: SIGTERM sent (scale down, reload, shutdown); its in-flight messages finish;
 * - `exited`: stopped by the supervisor, about to leave the table;
 * - `fatal`: will not be started again until a reload (exit code 2, or too many failed starts).
 */
export type ProcessState = 'starting' | 'running' | 'backoff' | 'stopping' | 'exited' | 'fatal';

/** What each state of a process slot may become; anything else is refused (and logged), never overwritten. */
const SLOT_TRANSITIONS = {
  // starting → starting: it ended before it started and is spawned again at once (exit 0)
  starting: ['starting', 'running', 'backoff', 'fatal', 'stopping', 'exited'],
  running: ['starting', 'backoff', 'fatal', 'stopping', 'exited'],
  backoff: ['starting', 'stopping', 'exited'],
  stopping: ['exited'],
  fatal: ['starting', 'exited'],
  exited: [],
} as const satisfies Record<ProcessState, readonly ProcessState[]>;

export interface LastExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** ISO time. */
  at: string;
  /** `code 0`, `signal SIGKILL (killed: …)`. */
  description: string;
}

/** One row of `rabbit-worker status`. */
export interface ProcessStatus {
  type: string;
  name: string;
  state: ProcessState;
  pid: number | null;
  uptimeSeconds: number | null;
  /** How many times this slot was started again. */
  restarts: number;
  lastExit: LastExitInfo | null;
  /** Messages handled by the current process. */
  handled: number;
  /** Messages handled by every process this slot ran since the supervisor started. */
  handledTotal: number;
  inflight: number;
  inflightIds: string[];
  /** What the worker itself last reported (starting, running, draining, stopped). */
  workerState: WorkerState | null;
  /** Resident memory of the process in MB, as it last reported it. */
  memoryMb: number | null;
  fatalReason?: string;
  /** What the last process said before it exited with an error (`BROKER_ACCESS_REFUSED: credentials refused …`). */
  lastError?: string;
}

export interface TypeStatus {
  name: string;
  /** The queue its processes consume (as they report it); null until one did, unless the config names it. */
  queue: string | null;
  file: string;
  desired: number;
  running: number;
  fatal: number;
}

export interface SupervisorStatus {
  pid: number;
  config: string;
  uptimeSeconds: number;
  stopping: boolean;
  types: TypeStatus[];
  processes: ProcessStatus[];
  /** The queues of this supervisor's types, as last read from the broker (when the endpoint watches it). */
  queues?: QueueStatus[];
  /** Messages waiting in the shared delay levels, every queue of the vhost together; null when unknown. */
  delayed?: number | null;
}

/** One work queue as `rabbit-worker status` shows it; null: unknown (broker unreachable, not declared yet). */
export interface QueueStatus {
  name: string;
  ready: number | null;
  consumers: number | null;
  /** Depth of `<queue>.dlq`. */
  dead: number | null;
}

interface Slot {
  type: WorkerTypeConfig;
  index: number;
  name: string;
  lifecycle: Lifecycle<ProcessState>;
  child: WorkerChild | undefined;
  started: boolean;
  /**
   * The process said it was consuming. A process that dies after that is not a failed start, however soon:
   * a poison message that kills it (isolation none) must be retried with backoff until it is dead-lettered,
   * not turn the type FATAL and leave its queue without a consumer.
   */
  consumed: boolean;
  restarts: number;
  counters: SlotCounters;
  lastExit: LastExitInfo | null;
  handledTotal: number;
  timer: NodeJS.Timeout | undefined;
  fatalReason?: string;
  lastError?: string;
}

interface TypeEntry {
  config: WorkerTypeConfig;
  queue: string | null;
  desired: number;
  /** Active slots, indexes 1..desired. */
  slots: Slot[];
}

export interface SupervisorOptions {
  logger: Logger;
  format: OutputFormat;
  /** Where children's tagged lines go. @default stdout */
  write?: (line: string) => void;
}

export interface ReloadSummary {
  added: string[];
  removed: string[];
  restarted: string[];
  scaled: string[];
  retried: string[];
}

/** Everything but the process count (and the Kubernetes options): a change there means the type's processes must be replaced. */
function specOf(type: WorkerTypeConfig): string {
  const { processes: _processes, kubernetes: _kubernetes, ...rest } = type;
  return JSON.stringify(rest);
}

/**
 * The embedded process manager: a table of process slots per worker type, each with an explicit state,
 * restarted by the policy of {@link decideRestart}; scaling, reload and a graceful stop.
 */
export class Supervisor {
  readonly #types = new Map<string, TypeEntry>();
  /** Slots stopped on purpose (scale down, reload, shutdown), until their process exits. */
  readonly #retiring = new Set<Slot>();
  readonly #logger: Logger;
  readonly #format: OutputFormat;
  readonly #write: (line: string) => void;
  readonly #startedAt = Date.now();
  #config: SupervisorConfig;
  #stopping: Promise<{ durationMs: number; killed: number }> | undefined;
  #drained: Array<() => void> = [];
  /** The worker metrics of every process, live and exited. */
  readonly metrics = new ChildMetrics();

  constructor(config: SupervisorConfig, options: SupervisorOptions) {
    this.#config = config;
    this.#logger = options.logger;
    this.#format = options.format;
    this.#write = options.write ?? ((line) => void process.stdout.write(`${line}\n`));
  }

  get config(): SupervisorConfig {
    return this.#config;
  }

  /** Starts `processes` processes of every type. */
  start(): void {
    for (const type of this.#config.workers) {
      this.#types.set(type.name, { config: type, queue: type.overrides.queue ?? null, desired: 0, slots: [] });
      this.#setDesired(type.name, type.processes);
    }
    const total = this.#config.workers.reduce((sum, t) => sum + t.processes, 0);
    this.#logger.info(`supervising ${this.#config.workers.length} worker type(s), ${total} process(es)`, {
      config: this.#config.path,
      types: Object.fromEntries(this.#config.workers.map((t) => [t.name, t.processes])),
    });
  }

  /** Changes the number of processes of `type`; extra processes stop gracefully. */
  scale(type: string, n: number): TypeStatus {
    if (this.#stopping !== undefined) throw new RabbitWorkerError(ErrorCode.SUPERVISOR_STOPPING, 'the supervisor is stopping');
    if (!this.#types.has(type)) throw new RabbitWorkerError(ErrorCode.UNKNOWN_WORKER_TYPE, `unknown worker type "${type}" (known: ${[...this.#types.keys()].join(', ') || 'none'})`);
    if (!Number.isInteger(n) || n < 0 || n > 256) throw new ConfigError(`process count must be an integer from 0 to 256, got ${String(n)}`);
    const before = this.#types.get(type)?.desired ?? 0;
    this.#setDesired(type, n);
    this.#logger.info(`scaled ${type} from ${before} to ${n} process(es)`, { type, from: before, to: n });
    return this.#typeStatus(type);
  }

  /**
   * Applies a new config: new types start, removed types stop, types whose settings changed are replaced
   * (new processes start while the old ones finish their messages), counts change, FATAL processes of
   * unchanged types are tried again (their file may have been fixed). Runtime `scale` counts are reset.
   */
  reload(next: SupervisorConfig): ReloadSummary {
    if (this.#stopping !== undefined) throw new RabbitWorkerError(ErrorCode.SUPERVISOR_STOPPING, 'the supervisor is stopping');
    const summary: ReloadSummary = { added: [], removed: [], restarted: [], scaled: [], retried: [] };
    const names = new Set(next.workers.map((t) => t.name));
    for (const [name, entry] of this.#types) {
      if (names.has(name)) continue;
      entry.slots.splice(0).forEach((slot) => this.#retire(slot));
      this.#types.delete(name);
      summary.removed.push(name);
    }
    for (const type of next.workers) {
      const entry = this.#types.get(type.name);
      if (entry === undefined) {
        this.#types.set(type.name, { config: type, queue: type.overrides.queue ?? null, desired: 0, slots: [] });
        summary.added.push(type.name);
      } else if (specOf(entry.config) !== specOf(type)) {
        entry.config = type;
        entry.slots.splice(0).forEach((slot) => this.#retire(slot));
        entry.desired = 0;
        summary.restarted.push(type.name);
      } else {
        entry.config = type;
        for (const slot of entry.slots.filter((s) => s.lifecycle.state === 'fatal')) {
          slot.type = type;
          slot.counters = { failures: 0, startFailures: 0 };
          delete slot.fatalReason;
          this.#spawn(slot);
          summary.retried.push(slot.name);
        }
        if (entry.desired !== type.processes) summary.scaled.push(type.name);
      }
      this.#setDesired(type.name, type.processes);
    }
    this.#config = next;
    this.#logger.info('configuration reloaded', { ...summary });
    return summary;
  }

  /** SIGTERM to every process; each gets its stop wait, then SIGKILL. Resolves once every process ended. */
  stop(): Promise<{ durationMs: number; killed: number }> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  /** SIGKILL to every process and its group, at once (a second SIGINT). */
  killAll(): void {
    for (const slot of this.#allSlots()) slot.child?.kill();
  }

  async #stopAll(): Promise<{ durationMs: number; killed: number }> {
    const started = Date.now();
    let killed = 0;
    const exits: Array<Promise<ChildExit>> = [];
    for (const entry of this.#types.values()) {
      for (const slot of entry.slots.splice(0)) this.#retire(slot);
      entry.desired = 0;
    }
    for (const slot of this.#retiring) if (slot.child) exits.push(slot.child.exited.then((exit) => (exit.killed && (killed += 1), exit)));
    const count = exits.length;
    this.#logger.info(`stopping ${count} process(es)`);
    if (this.#retiring.size > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
    await Promise.all(exits);
    const durationMs = Date.now() - started;
    this.#logger.info(`stopped ${count} process(es) in ${durationMs} ms`, { durationMs, killed });
    return { durationMs, killed };
  }

  status(): SupervisorStatus {
    const now = Date.now();
    const processes: ProcessStatus[] = [];
    for (const entry of this.#types.values()) for (const slot of entry.slots) processes.push(this.#slotStatus(slot, now));
    for (const slot of this.#retiring) processes.push(this.#slotStatus(slot, now));
    processes.sort((a, b) => a.name.localeCompare(b.name) || (a.state === 'stopping' ? -1 : 1));
    return {
      pid: process.pid,
      config: this.#config.path,
      uptimeSeconds: Math.round((now - this.#startedAt) / 1000),
      stopping: this.#stopping !== undefined,
      types: [...this.#types.keys()].map((name) => this.#typeStatus(name)),
      processes,
    };
  }

  #typeStatus(name: string): TypeStatus {
    const entry = this.#types.get(name);
    if (entry === undefined) throw new Error(`unknown worker type "${name}"`);
    return {
      name,
      queue: entry.queue,
      file: entry.config.file,
      desired: entry.desired,
      running: entry.slots.filter((s) => s.lifecycle.state === 'running').length,
      fatal: entry.slots.filter((s) => s.lifecycle.state === 'fatal').length,
    };
  }

  #slotStatus(slot: Slot, now: number): ProcessStatus {
    const child = slot.child;
    const report = child?.report;
    return {
      type: slot.type.name,
      name: slot.name,
      state: slot.lifecycle.state,
      pid: child?.alive ? (child.pid ?? null) : null,
      uptimeSeconds: child?.alive ? Math.round(child.uptimeMs(now) / 1000) : null,
      restarts: slot.restarts,
      lastExit: slot.lastExit,
      handled: report?.handled ?? 0,
      handledTotal: slot.handledTotal + (report?.handled ?? 0),
      inflight: report?.inflight ?? 0,
      inflightIds: report?.inflightIds ?? [],
      workerState: report?.state ?? null,
      memoryMb: child?.alive && child.rssMb !== undefined ? child.rssMb : null,
      ...(slot.fatalReason !== undefined ? { fatalReason: slot.fatalReason } : {}),
      ...(slot.lastError !== undefined ? { lastError: slot.lastError } : {}),
    };
  }

  /** Every group of worker metrics to aggregate for `/metrics` (see {@link ChildMetrics.groups}). */
  metricGroups(): MetricSnapshot[][] {
    const live: MetricSnapshot[][] = [];
    for (const slot of this.#allSlots()) if (slot.child?.alive) live.push(slot.child.metrics);
    const status = this.status();
    return this.metrics.groups({ types: status.types, processes: status.processes, live });
  }

  *#allSlots(): Generator<Slot> {
    for (const entry of this.#types.values()) yield* entry.slots;
    yield* this.#retiring;
  }

  #setDesired(name: string, n: number): void {
    const entry = this.#types.get(name);
    if (entry === undefined) return;
    entry.desired = n;
    while (entry.slots.length > n) {
      const slot = entry.slots.pop();
      if (slot) this.#retire(slot);
    }
    while (entry.slots.length < n) {
      const slot: Slot = {
        type: entry.config,
        index: entry.slots.length + 1,
        name: processName(name, entry.slots.length + 1),
        lifecycle: new Lifecycle<ProcessState>(processName(name, entry.slots.length + 1), 'starting', SLOT_TRANSITIONS, { log: this.#logger }),
        child: undefined,
        started: false,
        consumed: false,
        restarts: -1,
        counters: { failures: 0, startFailures: 0 },
        lastExit: null,
        handledTotal: 0,
        timer: undefined,
      };
      entry.slots.push(slot);
      this.#spawn(slot);
    }
  }

  #spawn(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    if (slot.restarts >= 0) slot.lifecycle.to('starting', 'spawn');
    slot.started = false;
    slot.consumed = false;
    slot.restarts += 1;
    if (slot.restarts > 0) this.metrics.restarted(slot.type.name);
    const child = new WorkerChild({
      type: slot.type,
      proc: slot.name,
      cwd: this.#config.dir,
      format: this.#format,
      write: this.#write,
      onReport: (report) => {
        const entry = this.#types.get(slot.type.name);
        if (entry !== undefined && report.queue !== '') entry.queue = report.queue;
        if (report.state === 'running' && slot.child === child) slot.consumed = true;
        if (report.state !== 'running' || slot.child !== child || slot.started || slot.timer !== undefined) return;
        const wait = Math.max(0, slot.type.startSeconds * 1000 - child.uptimeMs());
        slot.timer = setTimeout(() => {
          slot.timer = undefined;
          if (slot.child !== child || !child.alive || !slot.lifecycle.to('running', 'consuming for startSeconds')) return;
          slot.started = true;
          slot.counters.startFailures = 0;
          this.#logger.info(`${slot.name} running`, { proc: slot.name, childPid: child.pid, startMs: child.uptimeMs() });
        }, wait);
      },
    });
    slot.child = child;
    this.#logger.info(`${slot.name} spawned`, { proc: slot.name, childPid: child.pid, restarts: slot.restarts });
    void child.exited.then((exit) => this.#onExit(slot, child, exit));
  }

  #retire(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    const child = slot.child;
    if (child === undefined || !child.alive) {
      slot.lifecycle.to('exited', 'retired');
      return;
    }
    slot.lifecycle.to('stopping', 'retired');
    this.#retiring.add(slot);
    const reported = child.report?.stopTimeout;
    const wait = Math.max(slot.type.stopWaitSeconds, reported !== undefined ? reported + STOP_MARGIN_SECONDS : 0);
    this.#logger.info(`${slot.name} stopping (SIGTERM; SIGKILL after ${wait} s)`, { proc: slot.name, childPid: child.pid, inflight: child.report?.inflight ?? null });
    void child.stop(wait);
  }

  #onExit(slot: Slot, child: WorkerChild, exit: ChildExit): void {
    if (slot.child !== child) return;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.handledTotal += child.report?.handled ?? 0;
    this.metrics.retire(slot.type.name, child.metrics);
    const description = describeExit(exit.code, exit.signal);
    slot.lastExit = { code: exit.code, signal: exit.signal, at: new Date(exit.at).toISOString(), description };
    const report = child.report;
    const fields = {
      proc: slot.name,
      childPid: child.pid,
      code: exit.code,
      signal: exit.signal,
      uptimeMs: child.uptimeMs(),
      handled: report?.handled ?? 0,
      inflightIds: report?.inflightIds ?? [],
      ...(report !== undefined ? { reportAgeMs: Date.now() - report.at } : {}),
    };
    if (this.#retiring.has(slot)) {
      this.#retiring.delete(slot);
      slot.lifecycle.to('exited', description);
      if (exit.killed) this.#logger.error(`${slot.name} (pid ${child.pid}) was killed with its process group (SIGKILL)`, fields);
      else this.#logger.info(`${slot.name} stopped (${description})`, fields);
      if (this.#retiring.size === 0) this.#drained.splice(0).forEach((resolve) => resolve());
      return;
    }
    slot.child = undefined;
    if (child.failure !== undefined) slot.lastError = `${child.failure.code !== undefined ? `${child.failure.code}: ` : ''}${child.failure.message}`;
    const abnormal = exit.signal !== null || exit.code !== 0;
    if (abnormal) {
      const held = fields.inflightIds.length > 0 ? `; it was handling ${fields.inflightIds.join(', ')}` : '';
      const tail = child.stderrTail.length > 0 ? { stderr: child.stderrTail.slice(-5) } : {};
      const oom = child.stderrTail.some((line) => line.includes('heap out of memory')) ? ' (JavaScript heap out of memory)' : '';
      this.#logger.critical(`${slot.name} (pid ${child.pid}) ended abnormally: ${description}${oom}${held}`, { ...fields, ...tail });
    }
    const decision = decideRestart({ code: exit.code, signal: exit.signal, started: slot.started || slot.consumed, uptimeMs: child.uptimeMs() }, slot.counters, slot.type.startRetries);
    if (decision.action === 'fatal') {
      slot.lifecycle.to('fatal', decision.reason);
      slot.fatalReason =
        decision.reason === 'config-error'
          ? `exit code 2: configuration error${slot.lastError !== undefined ? ` (${slot.lastError})` : ''}; not restarted: fix it and reload`
          : `failed to start ${slot.counters.startFailures} time(s) in a row (startRetries ${slot.type.startRetries}, startSeconds ${slot.type.startSeconds})`;
      this.#logger.critical(`${slot.name} is FATAL: ${slot.fatalReason}`, { proc: slot.name, type: slot.type.name, reason: decision.reason, stderr: child.stderrTail.slice(-5) });
      const entry = this.#types.get(slot.type.name);
      if (entry !== undefined && entry.slots.every((s) => s.lifecycle.state === 'fatal')) {
        this.#logger.critical(`worker type ${slot.type.name} is FATAL: none of its processes runs; the other types keep running`, { type: slot.type.name });
      }
      return;
    }
    if (decision.delayMs === 0) {
      this.#logger.info(`${slot.name} exited (${description}): starting a fresh process`, fields);
      this.#spawn(slot);
      return;
    }
    slot.lifecycle.to('backoff', decision.reason);
    this.#logger.warn(`${slot.name} restarts in ${decision.delayMs} ms (${decision.reason})`, { proc: slot.name, delayMs: decision.delayMs, reason: decision.reason });
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (slot.lifecycle.state === 'backoff') this.#spawn(slot);
    }, decision.delayMs);
  }
}
