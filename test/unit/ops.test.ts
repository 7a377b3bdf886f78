import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Buckets, quantile } from '../../src/metrics/histogram.js';
import { addTotals, sumOf, type MetricSnapshot } from '../../src/metrics/snapshot.js';
import { ControlAuth, sameSecret } from '../../src/supervisor/control-auth.js';
import { hostAllowed } from '../../src/supervisor/host-check.js';
import { readiness } from '../../src/supervisor/readiness.js';
import type { SupervisorStatus } from '../../src/supervisor/supervisor.js';
import { overridesFromFlags } from '../../src/worker/run-flags.js';
import { ManualClock } from '../helpers/manual-clock.js';

describe('hostAllowed (DNS rebinding)', () => {
  const bound = { host: '127.0.0.1', port: 9325 };
  it('answers its address, localhost and loopback literals with its port, and configured names with any port', () => {
    for (const host of ['127.0.0.1:9325', 'localhost:9325', 'LOCALHOST:9325', '[::1]:9325', 'dash.example', 'dash.example:443']) assert.ok(hostAllowed(host, bound, ['dash.example']), host);
  });
  it('refuses other names, other ports, no Host, and malformed ones', () => {
    for (const host of [undefined, '', 'evil.example:9325', 'evil.example', '127.0.0.1:9326', 'localhost', '127.0.0.1:9325@evil', 'dash.example.evil:80']) assert.ok(!hostAllowed(host, bound, ['dash.example']), String(host));
  });
});

describe('ControlAuth', () => {
  it('compares secrets of any length, accepts the token as Bearer only', () => {
    assert.ok(sameSecret('abc', 'abc'));
    assert.ok(!sameSecret('abc', 'abcd'));
    const auth = new ControlAuth('the-token-of-this-supervisor');
    const req = (headers: Record<string, string>) => ({ headers }) as never;
    assert.equal(auth.check(req({ authorization: 'Bearer the-token-of-this-supervisor' })), 'token');
    assert.equal(auth.check(req({ authorization: 'Bearer nope' })), undefined);
    assert.equal(auth.check(req({})), undefined);
  });
  it('spends a login token once, and sessions expire', () => {
    const clock = new ManualClock();
    const auth = new ControlAuth('t'.repeat(32), clock);
    const login = auth.issueLogin();
    const session = auth.redeem(login);
    assert.ok(session !== undefined);
    assert.equal(auth.redeem(login), undefined, 'once only');
    const req = { headers: { cookie: `other=1; rw_session=${session}` } } as never;
    assert.equal(auth.check(req), 'session');
    clock.advance(13 * 3_600_000);
    assert.equal(auth.check(req), undefined, 'expired');
    const late = auth.issueLogin();
    clock.advance(11 * 60_000);
    assert.equal(auth.redeem(late), undefined, 'a login link expires');
  });
});

describe('histograms and totals', () => {
  it('counts into buckets and interpolates quantiles as histogram_quantile does', () => {
    const b = new Buckets([0.1, 1, 10]);
    for (const v of [0.05, 0.05, 0.5, 0.5, 5, 50]) b.observe(v);
    const series = b.series('h', { q: 'x' });
    assert.deepEqual(series.filter((s) => s.metricName === 'h_bucket').map((s) => s.value), [2, 4, 5, 6]);
    assert.equal(series.find((s) => s.metricName === 'h_count')?.value, 6);
    assert.equal(quantile(0.5, [0.1, 1, 10], [2, 4, 5, 6]), 0.55);
    assert.equal(quantile(0.99, [0.1, 1, 10], [2, 4, 5, 6]), 10, 'in +Inf: the highest bound');
    assert.equal(quantile(0.5, [0.1, 1], [0, 0, 0]), null);
  });
  it('adds the counters and histograms of exited processes, drops their gauges', () => {
    const snap = (v: number): MetricSnapshot[] => [
      { name: 'c', help: '', type: 'counter', aggregator: 'sum', values: [{ value: v, labels: { outcome: 'ack' } }] },
      { name: 'g', help: '', type: 'gauge', aggregator: 'sum', values: [{ value: v, labels: {} }] },
    ];
    const total = addTotals(addTotals([], snap(3)), snap(4));
    assert.equal(sumOf(total, 'c', { outcome: 'ack' }), 7);
    assert.equal(total.find((m) => m.name === 'g'), undefined);
  });
});

describe('readiness', () => {
  const status = (workerState: 'running' | 'reconnecting', stopping = false): SupervisorStatus => ({
    pid: 1,
    config: '/c',
    uptimeSeconds: 1,
    stopping,
    types: [{ name: 'a', queue: 'q', file: '/f', desired: 2, running: 2, fatal: 0 }],
    processes: ['a_01', 'a_02'].map((name) => ({ type: 'a', name, state: 'running', pid: 2, uptimeSeconds: 1, restarts: 0, lastExit: null, handled: 0, handledTotal: 0, inflight: 0, inflightIds: [], workerState, memoryMb: null })),
  });
  it('is ready when every type has its processes consuming, and says why not otherwise', () => {
    assert.equal(readiness(status('running')).ready, true);
    const down = readiness(status('reconnecting'));
    assert.equal(down.ready, false);
    assert.deepEqual(down.reasons, ['a: 0 of 2 process(es) consuming (others: reconnecting)']);
    assert.equal(readiness(status('running', true)).ready, false);
  });
});

describe('run flags of issue 11', () => {
  it('--http-port is a number, --metrics on/off a boolean naming its flag when wrong', () => {
    assert.deepEqual(overridesFromFlags({ httpPort: '9464', metrics: 'off' }), { httpPort: 9464, metrics: false });
    assert.deepEqual(overridesFromFlags({ metrics: 'on' }), { metrics: true });
    assert.throws(() => overridesFromFlags({ metrics: 'maybe' }), /--metrics: expected on or off/);
  });
});
