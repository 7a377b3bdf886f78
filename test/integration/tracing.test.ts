import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { Publisher, replayDeadLetters } from '../../src/index.js';
import { connection, depth, eventually } from '../helpers/broker.js';
import { BIN, consuming, fixture, Proc } from '../helpers/process.js';
import { testScope } from '../helpers/scope.js';

const WORKER = fixture('tracing/traced-worker.ts');
const PRELOAD = fixture('tracing/otel-preload.mjs');

/** A span as the worker's preload wrote it. */
interface FileSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
  links: Array<{ traceId: string; spanId: string; attributes?: Record<string, unknown> }>;
  status: { code: number };
  events: string[];
  thread: 'main' | number;
}

const readSpans = (file: string): FileSpan[] =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as FileSpan) : [];

describe('tracing: W3C trace context from publish() to the callback, across the isolate, retries and replays', () => {
  const { queue, track } = testScope();
  // The application's side: an SDK with an in-memory exporter, in this process.
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register();
  const publisher = new Publisher();
  const files: string[] = [];
  after(async () => {
    await publisher.close();
    await provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
    files.forEach((f) => rmSync(f, { force: true }));
  });

  /** The worker loads the SDK through `--import` (in its main thread and its isolates), exporting to a file. */
  async function start(name: string, isolation: 'thread' | 'none'): Promise<{ worker: Proc; file: string }> {
    const file = join(tmpdir(), `rw-trace-${name}.jsonl`);
    files.push(file);
    const worker = track(new Proc(['--import', PRELOAD, BIN, 'run', WORKER, '--connect-attempts', '2', '--isolation', isolation], { QUEUE: name, TRACE_FILE: file }));
    await consuming(worker);
    return { worker, file };
  }

  const sendSpan = (messageId: string): ReadableSpan | undefined =>
    exporter.getFinishedSpans().find((s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.message.id'] === messageId);

  it('one publish → a process span per attempt, each a child of the send span, run in the isolate; user spans and log lines nest under it', async () => {
    const name = queue('trace');
    const { worker, file } = await start(name, 'thread');
    await publisher.publish(name, { fail: 1 }, { messageId: 't1' });
    const send = sendSpan('t1');
    assert.ok(send !== undefined, 'the send span');
    assert.equal(send.name, `send ${name}`);
    assert.equal(send.attributes['messaging.system'], 'rabbitmq');
    assert.equal(send.attributes['messaging.destination.name'], name);
    assert.equal(send.attributes['messaging.operation.type'], 'send');
    assert.equal(send.attributes['messaging.rabbitmq.destination.routing_key'], name);

    const processes = await eventually(() => {
      const found = readSpans(file).filter((s) => s.name === `process ${name}`);
      return found.length >= 2 ? found : undefined;
    }, 20_000, 'two process spans (the first attempt and its retry)');
    const { traceId, spanId } = send.spanContext();
    for (const [i, span] of processes.entries()) {
      assert.equal(span.kind, SpanKind.CONSUMER);
      assert.equal(span.traceId, traceId, 'same trace');
      assert.equal(span.parentSpanId, spanId, 'the send span is the parent, also of the retry');
      assert.equal(span.attributes['rabbit_worker.attempt'], i + 1);
      assert.equal(span.attributes['messaging.message.id'], 't1');
      assert.equal(span.attributes['messaging.operation.type'], 'process');
      assert.equal(span.attributes['messaging.system'], 'rabbitmq');
      assert.notEqual(span.thread, 'main', 'made in the callback isolate');
    }
    assert.equal(processes[0]?.status.code, SpanStatusCode.ERROR);
    assert.ok(processes[0]?.events.includes('exception'));
    assert.equal(processes[1]?.status.code, SpanStatusCode.UNSET);
    assert.equal(processes[1]?.attributes['rabbit_worker.settlement'], 'ack');

    const steps = readSpans(file).filter((s) => s.name === 'resize-step');
    assert.deepEqual(steps.map((s) => s.parentSpanId).sort(), processes.map((s) => s.spanId).sort(), "the callback's own spans nest under its process span");
    const handled = worker.lines.filter((l) => l.msg === 'handled' && l.messageId === 't1');
    assert.deepEqual(handled.map((l) => [l.attempt, l.traceId, l.spanId]), processes.map((s, i) => [i + 1, traceId, s.spanId]), 'callback lines carry the trace');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });

  it('a replayed dead letter starts a new trace linked to the one it first ran in (isolation none)', async () => {
    const name = queue('trace-replay');
    const { worker, file } = await start(name, 'none');
    await publisher.publish(name, { reject: true }, { messageId: 't2' });
    const original = sendSpan('t2');
    assert.ok(original !== undefined);
    await eventually(async () => (await depth(`${name}.dlq`)) > 0, 20_000, 'the dead letter');
    const result = await replayDeadLetters(await connection(), name);
    assert.equal(result.replayed, 1);
    const replay = exporter.getFinishedSpans().find((s) => s.attributes['rabbit_worker.replay'] === true && s.attributes['messaging.message.id'] === 't2');
    assert.ok(replay !== undefined, 'the replay send span');
    assert.notEqual(replay.spanContext().traceId, original.spanContext().traceId, 'a new trace');
    assert.deepEqual(replay.links.map((l) => l.context.spanId), [original.spanContext().spanId], 'linked to the original send');
    const processes = await eventually(() => {
      const found = readSpans(file).filter((s) => s.name === `process ${name}`);
      return found.length >= 2 ? found : undefined;
    }, 20_000, 'the process spans of the first run and of the replay');
    assert.equal(processes[0]?.parentSpanId, original.spanContext().spanId);
    assert.equal(processes[1]?.parentSpanId, replay.spanContext().spanId);
    assert.equal(processes[1]?.traceId, replay.spanContext().traceId);
    assert.equal(processes[1]?.thread, 'main');
    worker.kill('SIGTERM');
    assert.equal((await worker.exit()).code, 0);
  });
});
