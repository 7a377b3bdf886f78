import { describeThrown } from '../errors.js';
import { messageContext, type MessageLogContext } from '../log/message-context.js';
import { otel } from '../tracing/otel.js';
import { startProcessSpan, type MessageSpan } from '../tracing/spans.js';
import type { MessageAdapter } from './message-adapter.js';
import type { WorkerTask } from './worker-task.js';

type Done = (error?: unknown) => void;

/**
 * Runs one callback. The one place where per-message work around `callback()` belongs, wherever callbacks
 * run (an isolate: isolate/entry.ts; the main thread: inline-runner.ts), so that both behave alike:
 * - the log context: every line written while the callback runs carries its `messageId`, `attempt` (and
 *   trace id), also with several callbacks at once;
 * - the `process <queue>` span, when a tracer provider is registered: child of the producer's context from
 *   the headers, active while the callback runs so that the user's spans nest under it;
 * - the payload's schema, checked once before the callback: an invalid message is rejected unrun;
 * - a request's reply: the callback's return value (or `message.reply()`), settled before `done`.
 *
 * `done` is called exactly once: with nothing when the callback returned (or never ran: the message is
 * settled then), with the error when it threw or its promise rejected. A callback that completes
 * synchronously gets `done` synchronously (no extra turn on the prefetch-1 hot path).
 */
export function invokeCallback(task: WorkerTask, adapter: MessageAdapter, done: Done): void {
  const context: MessageLogContext = { messageId: adapter.messageId, attempt: adapter.attempt };
  // without a tracer provider: one property read, nothing built
  const span = otel() === undefined ? undefined : processSpan(adapter);
  if (span === undefined) {
    messageContext.run(context, validateThenCall, task, adapter, done);
    return;
  }
  context.traceId = span.traceId;
  context.spanId = span.spanId;
  const traced = endSpan(span, adapter, done);
  messageContext.run(context, () => span.run(() => validateThenCall(task, adapter, traced)));
}

function processSpan(adapter: MessageAdapter): MessageSpan | undefined {
  const message = { queue: adapter.queue, routingKey: adapter.routingKey, messageId: adapter.messageId, correlationId: adapter.properties.correlationId };
  return startProcessSpan(message, adapter.headers, adapter.attempt);
}

/** `done`, once the span says how the message ended. */
function endSpan(span: MessageSpan, adapter: MessageAdapter, done: Done): Done {
  return (error) => {
    const settlement = adapter.settlement;
    span.end(error, settlement === undefined ? undefined : { 'rabbit_worker.settlement': settlement.kind });
    done(error);
  };
}

function validateThenCall(task: WorkerTask, adapter: MessageAdapter, done: Done): void {
  const schema = task.schema;
  if (schema !== undefined) {
    const valid = adapter.validate(schema);
    if (valid === false) return done();
    if (valid !== true) {
      valid.then(
        (ok) => (ok ? call(task, adapter, done) : done()),
        (error: unknown) => done(error ?? { name: 'NonError', message: describeThrown(error) }),
      );
      return;
    }
  }
  call(task, adapter, done);
}

function call(task: WorkerTask, adapter: MessageAdapter, done: Done): void {
  let result: unknown;
  try {
    result = task.callback(adapter);
  } catch (error) {
    failed(adapter, done, error ?? { name: 'NonError', message: describeThrown(error) });
    return;
  }
  if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
    (result as Promise<unknown>).then(
      (value) => returned(adapter, done, value),
      (error: unknown) => failed(adapter, done, error ?? { name: 'NonError', message: describeThrown(error) }),
    );
  } else returned(adapter, done, result);
}

function returned(adapter: MessageAdapter, done: Done, value: unknown): void {
  adapter.complete(value, false);
  done();
}

function failed(adapter: MessageAdapter, done: Done, error: unknown): void {
  adapter.complete(undefined, true);
  done(error);
}
