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
import { applySettings, type WorkerTask } from '../worker-task.js';
import type { CallbackResult, FromIsolate, IsolateInit, ToIsolate } from './protocol.js';

const port = parentPort as NonNullable<typeof parentPort>;
const init = workerData as IsolateInit;
const post = (message: FromIsolate): void => port.postMessage(message);

let outbox: CallbackResult[] = [];
const open = new Map<number, CallbackResult>();
let scheduled = false;

// Heap used plus external memory (Buffers, which the heap limit does not cap), once a second: the main
// thread recycles the worker on it. Off the per-message path.
setInterval(() => {
  const { heapUsed, external } = process.memoryUsage();
  post({ t: 'memory', mb: (heapUsed + external) / 1048576 });
}, 1000).unref();

function flush(): void {
  scheduled = false;
  if (outbox.length === 0) return;
  const batch = outbox;
  outbox = [];
  post({ t: 'results', batch });
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
  if (!scheduled) {
    scheduled = true;
    setImmediate(() => {
      open.clear();
      flush();
    });
  }
}

function fatal(reason: 'uncaught-exception' | 'unhandled-rejection', error: unknown): void {
  open.clear();
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

async function main(): Promise<void> {
  let task: WorkerTask;
  const logger = new Logger(createPino({ base: init.logBase }));
  try {
    const WorkerClass = await loadWorkerClass(init.file);
    task = new WorkerClass();
    task.logger = logger;
    task.initialize();
    applySettings(task, init.settings);
  } catch (error) {
    post({ t: 'load-error', error: toErrorInfo(error) });
    return;
  }
  const messageLogger = task.logger;

  // the callbacks running, so that a deadline can abort their signal
  const running = new Map<number, MessageAdapter>();
  const end = (id: number, error?: unknown): void => {
    running.delete(id);
    record(id, error === undefined ? { done: true } : { done: true, e: toErrorInfo(error) });
  };
  port.on('message', (message: ToIsolate) => {
    if (message.t === 'run') {
      for (const raw of message.batch) {
        const data = withBody(raw);
        const id = data.id;
        const adapter = new MessageAdapter(data, (s) => record(id, { s }), messageLogger);
        running.set(id, adapter);
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
    } else {
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
