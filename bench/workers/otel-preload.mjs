// `rw-tracing`: the worker with an OpenTelemetry SDK loaded through --import (main thread and isolates), as
// an application with tracing on runs it: a batch processor, and an exporter that drops what it gets (the
// cost measured is rabbit-worker's spans and context, not a network exporter's).
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

const dropping = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropping)] }).register();
