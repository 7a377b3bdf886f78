import type { Attributes, Context, Link, Span, TextMapGetter, Tracer } from '@opentelemetry/api';
import { otel, TRACER_NAME, type OtelApi } from './otel.js';

/**
 * Spans named and attributed by the OpenTelemetry messaging conventions: `send <queue>` (PRODUCER) when a
 * message is published, `process <queue>` (CONSUMER) around its callback, the consumer's parent being the
 * producer's context, carried in the message's headers as W3C `traceparent`/`tracestate` (through the
 * registered propagator; the SDK's default is W3C trace context).
 */

/** The message fields a span describes. */
export interface TracedMessage {
  queue: string;
  routingKey: string;
  messageId: string | undefined;
  correlationId?: string | undefined;
}

/** A span in progress; `end()` once. */
export interface MessageSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Runs `fn` with this span active, so that spans made inside nest under it. */
  run<T>(fn: () => T): T;
  end(error?: unknown, attributes?: Attributes): void;
}

/** Header values as amqplib decodes them (strings, or Buffers for byte arrays). */
const headerGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    if (typeof value === 'string') return value;
    if (Buffer.isBuffer(value)) return value.toString('utf8');
    return undefined;
  },
};

function attributes(message: TracedMessage, operation: 'send' | 'process', extra: Attributes): Attributes {
  const out: Attributes = {
    'messaging.system': 'rabbitmq',
    'messaging.operation.type': operation,
    'messaging.operation.name': operation === 'send' ? 'publish' : 'process',
    'messaging.destination.name': message.queue,
    'messaging.rabbitmq.destination.routing_key': message.routingKey,
    ...extra,
  };
  if (message.messageId !== undefined) out['messaging.message.id'] = message.messageId;
  if (message.correlationId !== undefined) out['messaging.message.conversation_id'] = message.correlationId;
  return out;
}

/** The tracer, got once per API copy (getting it per message costs a lookup and an object). */
let tracer: { api: typeof OtelApi; tracer: Tracer } | undefined;
function tracerOf(api: typeof OtelApi): Tracer {
  if (tracer?.api !== api) tracer = { api, tracer: api.trace.getTracer(TRACER_NAME) };
  return tracer.tracer;
}

function wrap(api: typeof OtelApi, span: Span, context: Context): MessageSpan {
  const { traceId, spanId } = span.spanContext();
  return {
    traceId,
    spanId,
    run: (fn) => api.context.with(context, fn),
    end(error, extra) {
      if (extra !== undefined) span.setAttributes(extra);
      if (error !== undefined) {
        const exception = error instanceof Error ? error : { name: String((error as { name?: unknown }).name ?? 'Error'), message: String((error as { message?: unknown }).message ?? error) };
        span.recordException(exception);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: exception.message });
      }
      span.end();
    },
  };
}

/**
 * A `send <queue>` span, child of the active context, whose context is written into `headers`
 * (`traceparent`, `tracestate`). `links`: a replayed dead letter links to the trace it first ran in.
 * Undefined when no tracer provider is registered: nothing is written, nothing is loaded.
 */
export function startSendSpan(message: TracedMessage, headers: Record<string, unknown>, options: { links?: Link[]; attributes?: Attributes } = {}): MessageSpan | undefined {
  const api = otel();
  if (api === undefined) return undefined;
  const parent = api.context.active();
  const span = tracerOf(api).startSpan(
    `send ${message.queue}`,
    { kind: api.SpanKind.PRODUCER, attributes: attributes(message, 'send', options.attributes ?? {}), ...(options.links !== undefined ? { links: options.links } : {}) },
    parent,
  );
  const context = api.trace.setSpan(parent, span);
  api.propagation.inject(context, headers);
  return wrap(api, span, context);
}

/**
 * A `process <queue>` span whose parent is the context in the message's headers (the `send` span, also
 * for a retried copy, which keeps them). Undefined when no tracer provider is registered.
 */
export function startProcessSpan(message: TracedMessage, headers: Record<string, unknown>, attempt: number): MessageSpan | undefined {
  const api = otel();
  if (api === undefined) return undefined;
  const parent = api.propagation.extract(api.ROOT_CONTEXT, headers, headerGetter);
  const span = tracerOf(api).startSpan(
    `process ${message.queue}`,
    { kind: api.SpanKind.CONSUMER, attributes: attributes(message, 'process', { 'rabbit_worker.attempt': attempt }) },
    parent,
  );
  return wrap(api, span, api.trace.setSpan(parent, span));
}

/**
 * For a dead letter published again (`dlq replay`): a new `send <queue>` span, child of the active
 * context (usually none: a new trace), with a link to the trace the message first ran in, whose
 * `traceparent` it replaces in `headers`. Undefined, and the headers untouched, without a provider.
 */
export function startReplaySpan(message: TracedMessage, headers: Record<string, unknown>): MessageSpan | undefined {
  const api = otel();
  if (api === undefined) return undefined;
  const original = api.trace.getSpanContext(api.propagation.extract(api.ROOT_CONTEXT, headers, headerGetter));
  for (const field of api.propagation.fields()) delete headers[field];
  return startSendSpan(message, headers, {
    ...(original !== undefined && api.isSpanContextValid(original) ? { links: [{ context: original, attributes: { 'rabbit_worker.link': 'replay-of' } }] } : {}),
    attributes: { 'rabbit_worker.replay': true },
  });
}
