import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { startProcessSpan, startReplaySpan, startSendSpan } from '../../src/tracing/spans.js';

const require = createRequire(import.meta.url);
const apiLoaded = (): boolean => Object.keys(require.cache).some((path) => path.includes('@opentelemetry/api'));

describe('tracing without a tracer provider', () => {
  it('does nothing, loads nothing, and costs a property read per message', () => {
    const headers: Record<string, unknown> = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tenant: 't' };
    const message = { queue: 'q', routingKey: 'q', messageId: 'm' };
    assert.equal(startSendSpan(message, headers), undefined);
    assert.equal(startProcessSpan(message, headers, 1), undefined);
    assert.equal(startReplaySpan(message, headers), undefined);
    assert.deepEqual(headers, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tenant: 't' }, 'headers untouched');
    assert.equal(apiLoaded(), false, '@opentelemetry/api was not loaded');
    const rounds = 1_000_000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) startProcessSpan(message, headers, 1);
    const ns = Number(process.hrtime.bigint() - started) / rounds;
    // generous for a shared machine: the point is "nothing", not a figure (bench/tracing-cost.ts measures it)
    assert.ok(ns < 200, `${ns.toFixed(1)} ns per message`);
  });
});
