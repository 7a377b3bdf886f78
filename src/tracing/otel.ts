import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';

export type { OtelApi };

/**
 * Where every copy of `@opentelemetry/api` 1.x keeps what was registered globally (the tracer provider,
 * the propagator, the context manager), so that copies of different versions share them. Reading it tells
 * whether a tracer provider was registered without loading anything.
 */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

const require = createRequire(import.meta.url);
/** The API once loaded; null when it is not installed. */
let loaded: typeof OtelApi | null | undefined;

/**
 * The OpenTelemetry API when a tracer provider is registered (an SDK was started), else undefined. The
 * check is one property read per call: without a provider nothing is loaded and nothing else is done, so
 * tracing costs nothing when it is not used. `@opentelemetry/api` is an optional peer dependency, loaded
 * on the first call that finds a provider.
 */
export function otel(): typeof OtelApi | undefined {
  const registry = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[OTEL_GLOBAL];
  if (registry?.trace === undefined) return undefined;
  if (loaded === undefined) {
    try {
      loaded = require('@opentelemetry/api') as typeof OtelApi;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/** The name of rabbit-worker's tracer (the instrumentation scope of its spans). */
export const TRACER_NAME = 'rabbit-worker';
