import { Worker } from 'node:worker_threads';
import { ErrorCode, fromErrorInfo, RabbitWorkerError, toErrorInfo } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { SPARE_MEMORY_UNIT_MB, type SettingsOverrides, type WorkerSettings } from '../options.js';
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

// A young generation large enough that short-lived per-message objects die in few scavenges.
const YOUNG_GENERATION_MB = 32;

function spawn(init: IsolateInit, heapMb: number): Worker {
  return new Worker(ENTRY, {
    workerData: init,
    resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: Math.min(YOUNG_GENERATION_MB, Math.max(4, heapMb / 4)) },
    stdout: false,
    stderr: false,
  });
}

const ACK = { kind: 'ack' } as const;

/** Waits for the isolate's first word (`ready`, or `settings` from a first isolate), or why it could not load. */
function firstWord<T extends 'ready' | 'settings'>(worker: Worker, word: T): Promise<Extract<FromIsolate, { t: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromIsolate): void => {
      if (message.t === word) {
        done();
        resolve(message as Extract<FromIsolate, { t: T }>);
      } else if (message.t === 'load-error') {
        done();
        reject(Object.assign(fromErrorInfo(message.error), { code: message.error.code }));
      }
    };
    const onError = (error: unknown): void => (done(), reject(error));
    const onExit = (code: number): void => (done(), reject(new Error(`the worker isolate exited with code ${code} while loading`)));
    const done = (): void => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

/** A first isolate: it loaded the worker and ran `initialize()`; it waits for the validated settings. */
export interface PreloadedIsolate {
  worker: Worker;
  heapMb: number;
  /** What `initialize()` and the overrides say, not yet validated. */
  raw: Partial<WorkerSettings>;
}

/**
 * Loads the worker in what becomes its callback isolate, so that the main thread never imports user code
 * (nor tsx): one copy of the worker's modules in memory, not two. The heap limit is the override's or the
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
 * `isolation: 'thread'`: callbacks run in a worker thread whose heap is capped at `memoryLimitMb`, while the
 * main thread keeps the channel. When the isolate dies — heap exhaustion, an uncaught error,
 * `process.exit()` — the consumer runs `shutdown()` for its messages in a spare isolate of
 * `spareMemoryMultiplier × 32` MB, and this runner starts a fresh isolate: work goes on.
 */
export class ThreadRunner implements CallbackRunner {
  readonly #init: IsolateInit & { settings: WorkerSettings };
  #preloaded: PreloadedIsolate | undefined;
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
  /** Callbacks handed to the isolate and not done: when none is, a message goes at once, unbatched. */
  #running = 0;
  readonly #shutdowns = new Map<number, PendingShutdown>();

  constructor(file: string, settings: WorkerSettings, logger: Logger, logBase: Record<string, unknown>, preloaded?: PreloadedIsolate) {
    this.#init = { file, settings, logBase };
    this.#logger = logger;
    this.#preloaded = preloaded;
  }

  get #settings(): WorkerSettings {
    return this.#init.settings;
  }

  async start(events: RunnerEvents): Promise<void> {
    this.#events = events;
    await this.#startIsolate();
  }

  dispatch(data: DeliveryData): void {
    this.#outbox.push(data);
    this.#running++;
    if (this.#scheduled || this.#starting !== undefined) return;
    if (this.#running === 1) {
      // nothing to batch with (prefetch 1, or an idle worker): no wait for the next turn
      this.#flush();
      return;
    }
    this.#scheduled = true;
    setImmediate(() => this.#flush());
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
    this.#running = 0;
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
    await this.#preloaded?.worker.terminate();
    this.#preloaded = undefined;
    await this.interrupt();
    await this.#spare?.terminate();
  }

  async #startIsolate(): Promise<void> {
    const starting = (async () => {
      const worker = await this.#take();
      const isolate: Isolate = { worker, retiring: false };
      worker.on('error', (error) => {
        isolate.error = error;
      });
      await firstWord(worker, 'ready');
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

  #flush(): void {
    this.#scheduled = false;
    const isolate = this.#isolate;
    if (isolate === undefined || this.#outbox.length === 0) return;
    const outbox = this.#outbox;
    this.#outbox = [];
    // Every body into one buffer that is transferred, not cloned: one copy, one allocation per batch.
    let total = 0;
    for (const data of outbox) total += data.body.byteLength;
    const bodies = new ArrayBuffer(total);
    const view = new Uint8Array(bodies);
    const ends = new Uint32Array(outbox.length);
    const batch: Array<Omit<DeliveryData, 'body'>> = new Array(outbox.length);
    let offset = 0;
    for (let i = 0; i < outbox.length; i++) {
      const { body, ...rest } = outbox[i] as DeliveryData;
      view.set(body, offset);
      offset += body.byteLength;
      ends[i] = offset;
      batch[i] = rest;
    }
    const message: ToIsolate = { t: 'run', batch, bodies, ends };
    isolate.worker.postMessage(message, [bodies]);
  }

  #onMessage(isolate: Isolate, message: FromIsolate): void {
    const events = this.#events as RunnerEvents;
    if (message.t === 'results') {
      this.#running -= message.acked.length;
      for (const id of message.acked) {
        events.settle(id, ACK);
        events.done(id, undefined);
      }
      for (const result of message.batch) {
        if (result.done === true) this.#running--;
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
    this.#running = 0;
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
        this.#logger.critical(`cannot start a new callback isolate: ${(startError as Error).message}; exiting for the process manager to restart`);
        this.#events?.failed(startError);
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
