/**
 * The code of an isolate: a worker thread with a heap limit of its own. It loads the worker file, runs
 * callbacks (or `shutdown()`, in the spare isolate) and reports to the main thread, which owns the channel.
 * Results travel in batches, one postMessage per event-loop turn.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { fromErrorInfo, toErrorInfo } from '../../errors.js';
import { createPino, Logger } from '../../log/logger.js';
import { loadWorkerClass } from '../load-worker.js';
import { MessageAdapter } from '../message-adapter.js';
import type { DeliveryData } from '../settlement.js';
import type { WorkerSettings } from '../options.js';
import { applySettings, readSettings, type WorkerTask } from '../worker-task.js';
import type { CallbackResult, FromIsolate, IsolateInit, ToIsolate } from './protocol.js';

const port = parentPort as NonNullable<typeof parentPort>;
const init = workerData as IsolateInit;
const post = (message: FromIsolate): void => port.postMessage(message);

let outbox: CallbackResult[] = [];
let acked: number[] = [];
const open = new Map<number, CallbackResult>();
let scheduled = false;
/** Callbacks running here; when the last one ends, its result goes at once instead of next turn. */
let runningCount = 0;

// Heap used plus external memory (Buffers, which the heap limit does not cap), once a second: the main
// thread recycles the worker on it. Off the per-message path.
setInterval(() => {
  const { heapUsed, external } = process.memoryUsage();
  post({ t: 'memory', mb: (heapUsed + external) / 1048576 });
}, 1000).unref();

function flush(): void {
  scheduled = false;
  open.clear();
  if (outbox.length === 0 && acked.length === 0) return;
  const batch: CallbackResult[] = [];
  for (const entry of outbox) {
    // the common case — acked, done, no error — travels as a bare id
    if (entry.done === true && entry.e === undefined && entry.s?.kind === 'ack') acked.push(entry.id);
    else batch.push(entry);
  }
  const message: FromIsolate = { t: 'results', acked, batch };
  outbox = [];
  acked = [];
  post(message);
}

function record(id: number, update: Partial<CallbackResult>): void {
  // Merge into the unsent record of the same message, so a settle and its end usually travel as one.
  let entry = open.get(id);
  if (entry === undefined) {
    entry = { id };
    open.set(id, entry);
    outbox.push(entry);
  }
  Object.assign(entry, update);
  if (update.done === true && runningCount === 0) flush();
  else if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

function fatal(reason: 'uncaught-exception' | 'unhandled-rejection', error: unknown): void {
  flush();
  post({ t: 'fatal', reason, error: toErrorInfo(error) });
  process.exit(1);
}
process.on('uncaughtException', (error) => fatal('uncaught-exception', error));
process.on('unhandledRejection', (error) => fatal('unhandled-rejection', error));

function withBody(data: DeliveryData): DeliveryData {
  const body = data.body;
  return { ...data, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
}

/** A delivery of a `run` batch, its body a view of the batch's transferred buffer (no copy). */
function unpack(batch: Array<Omit<DeliveryData, 'body'>>, bodies: ArrayBuffer, ends: Uint32Array, i: number): DeliveryData {
  const start = i === 0 ? 0 : (ends[i - 1] as number);
  const data = batch[i] as DeliveryData;
  data.body = Buffer.from(bodies, start, (ends[i] as number) - start);
  return data;
}

async function main(): Promise<void> {
  let task: WorkerTask;
  const logger = new Logger(createPino({ base: init.logBase }));
  try {
    const WorkerClass = await loadWorkerClass(init.file, logger);
    task = new WorkerClass();
    task.logger = logger;
    task.initialize();
    let settings = init.settings;
    if (settings === undefined) {
      // The first isolate: the main thread validates what initialize() and the overrides say, then starts us.
      const raw = { ...readSettings(task), ...Object.fromEntries(Object.entries(init.overrides ?? {}).filter(([, v]) => v !== undefined)) };
      post({ t: 'settings', raw });
      settings = await new Promise<WorkerSettings>((resolve) => {
        const onStart = (message: ToIsolate): void => {
          if (message.t !== 'start') return;
          port.off('message', onStart);
          resolve(message.settings);
        };
        port.on('message', onStart);
      });
    }
    applySettings(task, settings);
    logger.bind({ queue: settings.queue });
  } catch (error) {
    post({ t: 'load-error', error: toErrorInfo(error) });
    return;
  }
  const messageLogger = task.logger;

  // the callbacks running, so that a deadline can abort their signal
  const running = new Map<number, MessageAdapter>();
  const end = (id: number, error?: unknown): void => {
    running.delete(id);
    runningCount = running.size;
    record(id, error === undefined ? { done: true } : { done: true, e: toErrorInfo(error) });
  };
  port.on('message', (message: ToIsolate) => {
    if (message.t === 'run') {
      // Results still waiting for the next turn go first: if a callback of this batch never yields (a heap
      // hog), the acks of earlier messages must not die with the isolate.
      if (outbox.length > 0) flush();
      const { batch, bodies, ends } = message;
      for (let i = 0; i < batch.length; i++) {
        const data = unpack(batch, bodies, ends, i);
        const id = data.id;
        const adapter = new MessageAdapter(data, (s) => record(id, { s }), messageLogger);
        running.set(id, adapter);
        runningCount = running.size;
        let result: unknown;
        try {
          result = task.callback(adapter);
        } catch (error) {
          end(id, error);
          continue;
        }
        if (typeof (result as Promise<void> | undefined)?.then === 'function') {
          (result as Promise<void>).then(
            () => end(id),
            (error: unknown) => end(id, error ?? new Error('callback rejected with no reason')),
          );
        } else end(id);
      }
    } else if (message.t === 'abort') {
      running.get(message.id)?.abort(Object.assign(new Error(message.reason), { name: 'DeadlineExceeded' }));
    } else if (message.t === 'shutdown') {
      const data = withBody(message.data);
      const adapter = new MessageAdapter(data, (s) => post({ t: 'shutdown-settle', id: data.id, s }), messageLogger);
      const error = message.error === undefined ? undefined : fromErrorInfo(message.error);
      Promise.resolve()
        .then(() => task.shutdown(adapter, message.reason, error))
        .then(
          () => post({ t: 'shutdown-done', id: data.id }),
          (shutdownError: unknown) => post({ t: 'shutdown-done', id: data.id, e: toErrorInfo(shutdownError) }),
        );
    }
  });
  post({ t: 'ready' });
}

void main();
