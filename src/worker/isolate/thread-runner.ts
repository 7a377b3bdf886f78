import { Worker } from 'node:worker_threads';
import { ErrorCode, fromErrorInfo, RabbitWorkerError, toErrorInfo } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { SPARE_MEMORY_UNIT_MB, type WorkerSettings } from '../options.js';
import type { CallbackRunner, RunnerEvents } from '../runner.js';
import type { DeliveryData } from '../settlement.js';
import type { ShutdownReason } from '../shutdown-reason.js';
import type { FromIsolate, IsolateInit, ToIsolate } from './protocol.js';

// Running from the sources under tsx, the entry is a .ts file that the inherited --import tsx loads.
const ENTRY = new URL(import.meta.url.endsWith('.ts') ? './entry.ts' : './entry.js', import.meta.url);

/** A crash this soon after the previous one delays the next isolate, so a crash loop cannot spin. */
const CRASH_WINDOW_MS = 5_000;

interface Isolate {
  worker: Worker;
  /** Set when we terminate it ourselves: its exit is not a crash. */
  retiring: boolean;
  fatal?: { reason: ShutdownReason; error: unknown };
  error?: unknown;
}

interface PendingShutdown {
  resolve: () => void;
  reject: (error: unknown) => void;
}

function spawn(init: IsolateInit, heapMb: number): Worker {
  return new Worker(ENTRY, { workerData: init, resourceLimits: { maxOldGenerationSizeMb: heapMb }, stdout: false, stderr: false });
}

/** Waits for the isolate's first word: ready, or why it could not load. */
function ready(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromIsolate): void => {
      if (message.t === 'ready') done(), resolve();
      else if (message.t === 'load-error') done(), reject(Object.assign(fromErrorInfo(message.error), { code: message.error.code }));
    };
    const onError = (error: unknown): void => (done(), reject(error));
    const onExit = (code: number): void => (done(), reject(new Error(`the worker isolate exited with code ${code} while loading`)));
    const done = (): void => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

/**
 * `isolation: 'thread'`: callbacks run in a worker thread whose heap is capped at `memoryLimitMb`, while the
 * main thread keeps the channel. When the isolate dies — heap exhaustion, an uncaught error,
 * `process.exit()` — the consumer runs `shutdown()` for its messages in a spare isolate of
 * `spareMemoryMultiplier × 32` MB, and this runner starts a fresh isolate: work goes on.
 */
export class ThreadRunner implements CallbackRunner {
  readonly #init: IsolateInit;
  readonly #logger: Logger;
  #events: RunnerEvents | undefined;
  #isolate: Isolate | undefined;
  #starting: Promise<void> | undefined;
  #outbox: DeliveryData[] = [];
  #scheduled = false;
  #lastCrash = 0;
  #closed = false;
  #spare: Worker | undefined;
  #memoryMb = 0;
  readonly #shutdowns = new Map<number, PendingShutdown>();

  constructor(file: string, settings: WorkerSettings, logger: Logger, logBase: Record<string, unknown>) {
    this.#init = { file, settings, logBase };
    this.#logger = logger;
  }

  get #settings(): WorkerSettings {
    return this.#init.settings;
  }

  async start(events: RunnerEvents): Promise<void> {
    this.#events = events;
    await this.#startIsolate();
  }

  dispatch(data: DeliveryData): void {
    // A copy of exactly the body: structured clone would copy the whole pooled buffer behind a slice.
    this.#outbox.push({ ...data, body: new Uint8Array(data.body) });
    if (!this.#scheduled && this.#starting === undefined) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  shutdown(data: DeliveryData, reason: ShutdownReason, error: unknown): Promise<void> {
    const spare = this.#spareIsolate();
    return new Promise<void>((resolve, reject) => {
      this.#shutdowns.set(data.id, { resolve, reject });
      const message: ToIsolate = { t: 'shutdown', data: { ...data, body: new Uint8Array(data.body) }, reason, error: error === undefined ? undefined : toErrorInfo(error) };
      spare.postMessage(message);
    });
  }

  abort(id: number, reason: string): void {
    const message: ToIsolate = { t: 'abort', id, reason };
    this.#isolate?.worker.postMessage(message);
  }

  recycle(): boolean {
    const isolate = this.#isolate;
    if (isolate === undefined) return true;
    isolate.fatal = { reason: 'stop-timeout', error: new Error('a callback ignored its aborted signal past messageTimeout; isolate recycled') };
    void isolate.worker.terminate();
    return true;
  }

  async interrupt(): Promise<void> {
    this.#outbox = [];
    const isolate = this.#isolate;
    this.#isolate = undefined;
    this.#closed = true; // no new isolate after this
    if (isolate !== undefined) {
      isolate.retiring = true;
      await isolate.worker.terminate();
    }
  }

  memoryMb(): number {
    return this.#memoryMb;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.interrupt();
    await this.#spare?.terminate();
  }

  async #startIsolate(): Promise<void> {
    const starting = (async () => {
      const worker = spawn(this.#init, this.#settings.memoryLimitMb);
      const isolate: Isolate = { worker, retiring: false };
      worker.on('error', (error) => {
        isolate.error = error;
      });
      await ready(worker);
      worker.on('message', (message: FromIsolate) => this.#onMessage(isolate, message));
      worker.on('exit', (code) => this.#onExit(isolate, code));
      this.#isolate = isolate;
    })();
    this.#starting = starting;
    try {
      await starting;
    } finally {
      this.#starting = undefined;
    }
    if (this.#outbox.length > 0) this.#flush();
  }

  #flush(): void {
    this.#scheduled = false;
    const isolate = this.#isolate;
    if (isolate === undefined || this.#outbox.length === 0) return;
    const batch = this.#outbox;
    this.#outbox = [];
    const message: ToIsolate = { t: 'run', batch };
    isolate.worker.postMessage(message);
  }

  #onMessage(isolate: Isolate, message: FromIsolate): void {
    const events = this.#events as RunnerEvents;
    if (message.t === 'results') {      for (const result of message.batch) {
        if (result.s !== undefined) events.settle(result.id, result.s);
        if (result.done === true) events.done(result.id, result.e);
      }
    } else if (message.t === 'memory') {
      this.#memoryMb = message.mb;
    } else if (message.t === 'fatal') {
      isolate.fatal = { reason: message.reason, error: fromErrorInfo(message.error) };
    }
  }

  #onExit(isolate: Isolate, code: number): void {
    if (isolate.retiring || this.#isolate !== isolate) return;
    this.#isolate = undefined;
    this.#outbox = []; // their messages are armed: the consumer runs shutdown() for them and nacks
    const oom = (isolate.error as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    const reason: ShutdownReason = oom ? 'out-of-memory' : (isolate.fatal?.reason ?? (isolate.error !== undefined ? 'uncaught-exception' : 'exit'));
    const error = oom
      ? new RabbitWorkerError(ErrorCode.OUT_OF_MEMORY, `the callback isolate exhausted its heap (memoryLimitMb ${this.#settings.memoryLimitMb})`)
      : (isolate.fatal?.error ?? isolate.error ?? new Error(`process.exit(${code}) was called in the callback isolate`));
    this.#events?.crash(reason, error);
    if (this.#closed) return;
    const sinceLast = Date.now() - this.#lastCrash;
    this.#lastCrash = Date.now();
    const delay = sinceLast < CRASH_WINDOW_MS ? 1000 : 0;
    setTimeout(() => {
      if (this.#closed) return;
      this.#startIsolate().catch((startError: unknown) => {
        this.#logger.critical(`cannot start a new callback isolate: ${(startError as Error).message}`);
        this.#events?.crash('uncaught-exception', startError);
      });
    }, delay);
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
