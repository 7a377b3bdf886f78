import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line written during a callback carries: which message it is about. */
export interface MessageLogContext {
  messageId: string | undefined;
  attempt: number;
  /** The trace of the callback's `process` span, when tracing is on. */
  traceId?: string;
  spanId?: string;
}

/**
 * The message a callback is handling, for the log lines written while it runs (the user's `this.logger`
 * lines too, with several callbacks at once). The callback runs inside `messageContext.run(…)`; the pino
 * mixin below reads it. Nothing is paid for it outside callbacks: an AsyncLocalStorage costs only once
 * something ran in it.
 */
export const messageContext = new AsyncLocalStorage<MessageLogContext>();

const NONE: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/** pino's `mixin`: the fields of the message being handled, if any. */
export function messageMixin(): Record<string, unknown> {
  const context = messageContext.getStore();
  if (context === undefined) return NONE;
  const fields: Record<string, unknown> = { messageId: context.messageId, attempt: context.attempt };
  if (context.traceId !== undefined) {
    fields.traceId = context.traceId;
    fields.spanId = context.spanId;
  }
  return fields;
}

/**
 * pino's `mixinMergeStrategy`: the line's own fields win over the mixin's (a line that names a messageId
 * keeps it), each key once; lines outside callbacks are left as they are.
 */
export function mergeMixin(mergeObject: object, mixinObject: object): object {
  return mixinObject === NONE ? mergeObject : Object.assign(mixinObject, mergeObject);
}
