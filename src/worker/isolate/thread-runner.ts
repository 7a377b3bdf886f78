import type { Worker } from 'node:worker_threads';
import { ErrorCode, fromErrorInfo, RabbitWorkerError, toErrorInfo } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { SettingsOverrides } from '../options.js';
import { SPARE_MEMORY_UNIT_MB, type WorkerSettings } from '../settings.js';
import type { Lane } from '../quarantine.js';
import type { CallbackRunner, RunnerEvents } from '../runner.js';
import type { DeliveryData } from '../settlement.js';
import type { ShutdownReason } from '../shutdown-reason.js';
import { CallbackIsolate, firstWord, spawn, type IsolateEvents } from './isolate.js';
import type { FromIsolate, IsolateInit, ToIsolate } from './protocol.js';

/** A crash this soon after the previous one delays the next isolate, so a crash loop cannot spin. */
const CRASH_WINDOW_MS = 5_000;
/** A quarantine isolate idle this long is stopped (it costs a heap). */
const QUARANTINE_IDLE_MS = 30_000;

interface PendingShutdown {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** A first isolate: it loaded the worker and ran `initialize()`; it waits for the validated settings. */
export interface PreloadedIsolate {
  worker: Worker;
  heapMb: number;
  /** What `initialize()` and the overrides say, not yet validated. */
  raw: Partial<WorkerSettings>;
}

/**
 * Loads the worker in what becomes its first callback isolate, so that the main thread never imports user
 * code: one copy of the worker's modules in memory, not two. The heap limit is the override's or the
 * default; if `initialize()` sets another, the runner starts the isolate again with the right one.
 */
export async function preloadIsolate(file: string, overrides: SettingsOverrides, logBase: Record<string, unknown>, heapMb: number): Promise<PreloadedIsolate> {
  const worker = spawn({ file, overrides, logBase }, heapMb);
  try {
    const { raw } = await firstWord(worker, 'settings');
    return { worker, heapMb, raw };
  } catch (error) {
    await worker.terminate();
    throw error;
  }
}

/**
 * `isolation: 'thread'`: callbacks run in worker threads whose heaps are capped at `memoryLimitMb`, while the
 * main thread keeps the channel. `threads` isolates share the messages (each to the least busy); suspects
 * run in a quarantine isolate of their own, one at a time, beside them. When an isolate dies — heap
 * exhaustion, an uncaught error, `process.exit()` — only the messages that ran in it are interrupted (the
 * consumer runs `shutdown()` for them in a spare isolate of `spareMemoryMultiplier × 32` MB), and a fresh
 * isolate takes its place: work goes on in the others meanwhile.
 */
export class ThreadRunner implements CallbackRunner {
  readonly hasQuarantineLane = true;
  readonly #init: IsolateInit & { settings: WorkerSettings };
  #preloaded: PreloadedIsolate | undefined;
  readonly #logger: Logger;
  #events: RunnerEvents | undefined;
  /** The main lane: `threads` slots, each an isolate (or undefined while one is replaced). */
  readonly #main: Array<CallbackIsolate | undefined>;
  #quarantine: CallbackIsolate | undefined;
  #quarantineIdle: NodeJS.Timeout | undefined;
  readonly #retiring = new Set<CallbackIsolate>();
  /** Deliveries waiting for a main isolate to be ready (every slot being replaced). */
  #waiting: DeliveryData[] = [];
  readonly #owner = new Map<number, CallbackIsolate>();
  #lastCrash = 0;
  #closed = false;
  #spare: Worker | undefined;
  readonly #shutdowns = new Map<number, PendingShutdown>();

  constructor(file: string, settings: WorkerSettings, logger: Logger, logBase: Record<string, unknown>, preloaded?: PreloadedIsolate) {
    this.#init = { file, settings, logBase };
    this.#logger = logger;
    this.#preloaded = preloaded;
    this.#main = new Array<CallbackIsolate | undefined>(Math.max(1, settings.threads)).fill(undefined);
  }

  get #settings(): WorkerSettings {
    return this.#init.settings;
  }

  async start(events: RunnerEvents): Promise<void> {
    this.#events = events;
    await Promise.all(this.#main.map((_, slot) => this.#startMain(slot)));
  }

  dispatch(data: DeliveryData, lane: Lane = 'main'): void {
    if (lane === 'quarantine') {
      this.#clearQuarantineIdle();
      const isolate = (this.#quarantine ??= this.#startQuarantine());
      this.#owner.set(data.id, isolate);
      isolate.dispatch(data);
      return;
    }
    const isolate = this.#leastBusy();
    if (isolate === undefined) {
      this.#waiting.push(data);
      return;
    }
    this.#owner.set(data.id, isolate);
    isolate.dispatch(data);
  }

  shutdown(data: DeliveryData, reason: ShutdownReason, error: unknown): Promise<void> {
    const spare = this.#spareIsolate();
    return new Promise<void>((resolve, reject) => {
      this.#shutdowns.set(data.id, { resolve, reject });
      const message: ToIsolate = { t: 'shutdown', data: { ...data, body: new Uint8Array(data.body) }, reason, error: error === undefined ? undefined : toErrorInfo(error) };
      spare.postMessage(message);
    });
  }

  /**
   * Aborts the signal of callback `id` (past its messageTimeout) and takes its isolate out of service: new
   * messages — the retried copy of this one among them — go to a fresh isolate at once, while the old one
   * finishes what runs in it and is then stopped.
   */
  abort(id: number, reason: string): void {
    const isolate = this.#owner.get(id);
    if (isolate === undefined) return;
    isolate.abort(id, reason);
    if (isolate.retiring || this.#retiring.has(isolate)) return;
    this.#detach(isolate);
    this.#retiring.add(isolate);
    this.#afterDone(isolate);
  }

  /**
   * Callback `id` ignored its aborted signal: its isolate (already out of service since the abort) is
   * terminated now; the callbacks still running beside it are reported `recycled` (not their fault: requeued
   * without counting the attempt).
   */
  recycle(id: number): boolean {
    const isolate = this.#owner.get(id);
    if (isolate === undefined) return true;
    this.#owner.delete(id);
    isolate.running.delete(id);
    if (!this.#retiring.has(isolate)) {
      this.#detach(isolate);
      this.#retiring.add(isolate);
    }
    void isolate.retire();
    return true;
  }

  async interrupt(): Promise<void> {
    this.#closed = true; // no new isolate after this
    this.#waiting = [];
    const all = [...this.#main, this.#quarantine, ...this.#retiring].filter((i): i is CallbackIsolate => i !== undefined);
    this.#main.fill(undefined);
    this.#quarantine = undefined;
    this.#retiring.clear();
    await Promise.all(all.map((isolate) => isolate.close()));
  }

  memoryMb(): number {
    let max = 0;
    for (const isolate of [...this.#main, this.#quarantine]) if (isolate !== undefined) max = Math.max(max, isolate.memoryMb);
    return max;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#clearQuarantineIdle();
    await this.#preloaded?.worker.terminate();
    this.#preloaded = undefined;
    await this.interrupt();
    await this.#spare?.terminate();
  }

  #leastBusy(): CallbackIsolate | undefined {
    let best: CallbackIsolate | undefined;
    for (const isolate of this.#main) {
      if (isolate === undefined || !isolate.isReady) continue;
      if (best === undefined || isolate.running.size < best.running.size) best = isolate;
    }
    if (best !== undefined) return best;
    // none ready: one that is starting takes it, so it runs as soon as that isolate is
    return this.#main.find((isolate) => isolate !== undefined);
  }

  #isolateEvents(): IsolateEvents {
    const events = this.#events as RunnerEvents;
    return {
      settle: (id, settlement) => events.settle(id, settlement),
      done: (id, error) => {
        const isolate = this.#owner.get(id);
        this.#owner.delete(id);
        events.done(id, error);
        if (isolate !== undefined) this.#afterDone(isolate);
      },
      died: (isolate, ids, reason, error) => this.#died(isolate, ids, reason, error),
      retired: (isolate, ids) => {
        this.#retiring.delete(isolate);
        for (const id of ids) this.#owner.delete(id);
        if (ids.length > 0) {
          events.crash(ids, 'recycled', new Error('the isolate was replaced: another callback in it ignored its aborted signal past messageTimeout'), { bystanders: true });
        }
      },
    };
  }

  #afterDone(isolate: CallbackIsolate): void {
    if (this.#retiring.has(isolate) && isolate.running.size === 0 && !isolate.retiring) void isolate.retire();
    if (isolate === this.#quarantine && isolate.running.size === 0) this.#armQuarantineIdle();
  }

  /** Takes `isolate` out of its lane and puts a fresh one in its place. */
  #detach(isolate: CallbackIsolate): void {
    if (isolate === this.#quarantine) {
      this.#quarantine = undefined;
      return;
    }
    const slot = this.#main.indexOf(isolate);
    if (slot < 0) return;
    this.#main[slot] = undefined;
    this.#replace(slot, 0);
  }

  #died(isolate: CallbackIsolate, ids: number[], reason: ShutdownReason, error: unknown): void {
    for (const id of ids) this.#owner.delete(id);
    const slot = this.#main.indexOf(isolate);
    if (slot >= 0) this.#main[slot] = undefined;
    if (isolate === this.#quarantine) this.#quarantine = undefined;
    // their messages are armed: the consumer runs shutdown() for them and nacks
    this.#events?.crash(ids, reason, error);
    if (!this.#closed) this.#events?.restarted(reason === 'out-of-memory' ? 'out_of_memory' : 'crash');
    if (slot < 0 || this.#closed) return;
    const sinceLast = Date.now() - this.#lastCrash;
    this.#lastCrash = Date.now();
    this.#replace(slot, sinceLast < CRASH_WINDOW_MS ? 1000 : 0);
  }

  #replace(slot: number, delayMs: number): void {
    const timer = setTimeout(() => {
      if (this.#closed || this.#main[slot] !== undefined) return;
      this.#startMain(slot).catch((startError: unknown) => {
        this.#logger.critical(`cannot start a new callback isolate: ${(startError as Error).message}; exiting for the process manager to restart`);
        this.#events?.failed(startError);
      });
    }, delayMs);
    if (delayMs > 0) timer.unref();
  }

  async #startMain(slot: number): Promise<void> {
    const isolate = new CallbackIsolate(await this.#take(), 'main', this.#settings.memoryLimitMb, this.#isolateEvents());
    this.#main[slot] = isolate;
    // Deliveries that arrived while no isolate existed go to this one.
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const data of waiting) {
      this.#owner.set(data.id, isolate);
      isolate.dispatch(data);
    }
    try {
      await isolate.ready();
    } catch (error) {
      if (this.#main[slot] === isolate) this.#main[slot] = undefined;
      await isolate.close();
      throw error;
    }
  }

  #startQuarantine(): CallbackIsolate {
    const isolate = new CallbackIsolate(spawn(this.#init, this.#settings.memoryLimitMb), 'quarantine', this.#settings.memoryLimitMb, this.#isolateEvents());
    isolate.ready().catch((error: unknown) => {
      this.#logger.critical(`cannot start the quarantine isolate: ${(error as Error).message}; exiting for the process manager to restart`);
      this.#events?.failed(error);
    });
    return isolate;
  }

  #armQuarantineIdle(): void {
    this.#clearQuarantineIdle();
    this.#quarantineIdle = setTimeout(() => {
      const isolate = this.#quarantine;
      if (isolate === undefined || isolate.running.size > 0) return;
      this.#quarantine = undefined;
      void isolate.close();
    }, QUARANTINE_IDLE_MS);
    this.#quarantineIdle.unref();
  }

  #clearQuarantineIdle(): void {
    clearTimeout(this.#quarantineIdle);
    this.#quarantineIdle = undefined;
  }

  /** The preloaded isolate when its heap limit is right (told to start), else a new one. */
  async #take(): Promise<Worker> {
    const preloaded = this.#preloaded;
    this.#preloaded = undefined;
    if (preloaded !== undefined && preloaded.heapMb === this.#settings.memoryLimitMb) {
      const start: ToIsolate = { t: 'start', settings: this.#settings };
      preloaded.worker.postMessage(start);
      return preloaded.worker;
    }
    await preloaded?.worker.terminate();
    return spawn(this.#init, this.#settings.memoryLimitMb);
  }

  #spareIsolate(): Worker {
    if (this.#spare !== undefined) return this.#spare;
    const heapMb = Math.max(8, Math.round(this.#settings.spareMemoryMultiplier * SPARE_MEMORY_UNIT_MB));
    const spare = spawn(this.#init, heapMb);
    this.#spare = spare;
    let error: unknown;
    spare.on('error', (e) => {
      error = e;
    });
    spare.on('message', (message: FromIsolate) => {
      if (message.t === 'shutdown-settle') this.#events?.settle(message.id, message.s);
      else if (message.t === 'shutdown-done') {
        const pending = this.#shutdowns.get(message.id);
        this.#shutdowns.delete(message.id);
        if (message.e === undefined) pending?.resolve();
        else pending?.reject(fromErrorInfo(message.e));
        if (this.#shutdowns.size === 0) void this.#retireSpare(spare);
      } else if (message.t === 'load-error') {
        error = fromErrorInfo(message.error);
      }
    });
    spare.on('exit', () => {
      if (this.#spare === spare) this.#spare = undefined;
      const oom = (error as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      const reason = oom
        ? new RabbitWorkerError(
            ErrorCode.SPARE_MEMORY_EXHAUSTED,
            `shutdown() exhausted its reserve of ${heapMb} MB (spareMemoryMultiplier ${this.#settings.spareMemoryMultiplier} × ${SPARE_MEMORY_UNIT_MB} MB); raise spareMemoryMultiplier`,
          )
        : (error ?? new Error('the shutdown isolate ended before shutdown() finished'));
      for (const pending of this.#shutdowns.values()) pending.reject(reason);
      this.#shutdowns.clear();
    });
    return spare;
  }

  async #retireSpare(spare: Worker): Promise<void> {
    if (this.#spare === spare) this.#spare = undefined;
    await spare.terminate();
  }
}
