import { Worker } from 'node:worker_threads';
import { ErrorCode, fromErrorInfo, RabbitWorkerError, type ErrorInfo } from '../../errors.js';
import { logDestination } from '../../log/logger.js';
import type { Lane } from '../quarantine.js';
import type { DeliveryData, Settlement } from '../settlement.js';
import type { ShutdownReason } from '../shutdown-reason.js';
import type { FromIsolate, IsolateInit, ToIsolate } from './protocol.js';

// Running from the sources under tsx, the entry is a .ts file that the inherited --import tsx loads.
const ENTRY = new URL(import.meta.url.endsWith('.ts') ? './entry.ts' : './entry.js', import.meta.url);

// A young generation large enough that short-lived per-message objects die in few scavenges.
const YOUNG_GENERATION_MB = 32;

/** A worker thread running `entry`, with a heap limit of `heapMb`. */
export function spawn(init: IsolateInit, heapMb: number): Worker {
  return new Worker(ENTRY, {
    workerData: { ...init, log: init.log ?? logDestination() } satisfies IsolateInit,
    resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: Math.min(YOUNG_GENERATION_MB, Math.max(4, heapMb / 4)) },
    stdout: false,
    stderr: false,
  });
}

/** Waits for the isolate's first word (`ready`, or `settings` from a first isolate), or why it could not load. */
export function firstWord<T extends 'ready' | 'settings'>(worker: Worker, word: T): Promise<Extract<FromIsolate, { t: T }>> {
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
    const onError = (error: unknown): void => {
      done();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const onExit = (code: number): void => {
      done();
      reject(new Error(`the worker isolate exited with code ${code} while loading`));
    };
    const done = (): void => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

/** What an isolate tells its pool. */
export interface IsolateEvents {
  settle(id: number, settlement: Settlement): void;
  done(id: number, error: ErrorInfo | undefined): void;
  /** It ended on its own (not terminated by us): `ids` were running in it. */
  died(isolate: CallbackIsolate, ids: number[], reason: ShutdownReason, error: unknown): void;
  /** It ended after we retired it: `ids` were still running in it. */
  retired(isolate: CallbackIsolate, ids: number[]): void;
}

const ACK = { kind: 'ack' } as const;

/**
 * One callback isolate: a worker thread with its own heap limit, the deliveries handed to it, and their
 * results. Deliveries go in batches (one transferred buffer of bodies per event-loop turn); when nothing
 * else runs there, a delivery goes at once (prefetch 1 must not wait a turn).
 */
export class CallbackIsolate {
  readonly worker: Worker;
  readonly lane: Lane;
  /** Deliveries handed over and not done. */
  readonly running = new Set<number>();
  /** Set when we terminate it ourselves (a retire, a close): its exit is not a crash. */
  retiring = false;
  /** Closed for good: its exit reports nothing. */
  closed = false;
  memoryMb = 0;
  #ready = false;
  #outbox: DeliveryData[] = [];
  #scheduled = false;
  #fatal: { reason: ShutdownReason; error: unknown } | undefined;
  #error: unknown;
  readonly #events: IsolateEvents;
  readonly #heapMb: number;

  constructor(worker: Worker, lane: Lane, heapMb: number, events: IsolateEvents) {
    this.worker = worker;
    this.lane = lane;
    this.#heapMb = heapMb;
    this.#events = events;
    worker.on('error', (error) => {
      this.#error = error;
    });
    worker.on('exit', (code) => this.#onExit(code));
  }

  /** Waits until the worker file loaded in it; throws why it could not. */
  async ready(): Promise<void> {
    await firstWord(this.worker, 'ready');
    this.worker.on('message', (message: FromIsolate) => this.#onMessage(message));
    this.#ready = true;
    if (this.#outbox.length > 0) this.#flush();
  }

  get isReady(): boolean {
    return this.#ready;
  }

  dispatch(data: DeliveryData): void {
    this.#outbox.push(data);
    this.running.add(data.id);
    if (!this.#ready || this.#scheduled) return;
    if (this.running.size === 1) {
      // nothing to batch with (prefetch 1, or an idle isolate): no wait for the next turn
      this.#flush();
      return;
    }
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  abort(id: number, reason: string): void {
    const message: ToIsolate = { t: 'abort', id, reason };
    this.worker.postMessage(message);
  }

  /** Terminates it as a retire (its exit is not a crash); `ids` still running are reported as retired. */
  async retire(): Promise<void> {
    this.retiring = true;
    await this.worker.terminate();
  }

  /** Terminates it for good, reporting nothing. */
  async close(): Promise<void> {
    this.closed = true;
    this.retiring = true;
    this.#outbox = [];
    await this.worker.terminate();
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#outbox.length === 0) return;
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
    this.worker.postMessage(message, [bodies]);
  }

  #onMessage(message: FromIsolate): void {
    if (message.t === 'results') {
      for (const id of message.acked) {
        this.running.delete(id);
        this.#events.settle(id, ACK);
        this.#events.done(id, undefined);
      }
      for (const result of message.batch) {
        if (result.done === true) this.running.delete(result.id);
        if (result.s !== undefined) this.#events.settle(result.id, result.s);
        if (result.done === true) this.#events.done(result.id, result.e);
      }
    } else if (message.t === 'memory') {
      this.memoryMb = message.mb;
    } else if (message.t === 'fatal') {
      this.#fatal = { reason: message.reason, error: fromErrorInfo(message.error) };
    }
  }

  #onExit(code: number): void {
    const ids = [...this.running];
    this.running.clear();
    this.#outbox = [];
    if (this.closed) return;
    if (this.retiring) {
      this.#events.retired(this, ids);
      return;
    }
    const oom = (this.#error as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    const reason: ShutdownReason = oom ? 'out-of-memory' : (this.#fatal?.reason ?? (this.#error !== undefined ? 'uncaught-exception' : 'exit'));
    const error = oom
      ? new RabbitWorkerError(ErrorCode.OUT_OF_MEMORY, `the callback isolate exhausted its heap (memoryLimitMb ${this.#heapMb})`)
      : (this.#fatal?.error ?? this.#error ?? new Error(`process.exit(${code}) was called in the callback isolate`));
    this.#events.died(this, ids, reason, error);
  }
}
