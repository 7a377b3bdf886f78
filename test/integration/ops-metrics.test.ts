import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { SupervisorStatus } from '../../src/supervisor/supervisor.js';
import { closeConnection, declareQueue, deleteQueues, eventually, publish, uniqueQueue } from '../helpers/broker.js';
import { fixture, type Proc } from '../helpers/process.js';
import { controlGet, freePort, killEverything, startSupervisor, SupConfig } from '../helpers/sup-harness.js';

/** Prometheus text → { 'name{labels}': value } (labels as printed). */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** The value of the series of `name` whose labels include every `labels` pair (summed over the others). */
/** {@link value}, or NaN while the series does not exist yet. */
function valueOr(metrics: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  try {
    return value(metrics, name, labels);
  } catch {
    return Number.NaN;
  }
}

function value(metrics: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const [key, v] of metrics) {
    const brace = key.indexOf('{');
    if ((brace < 0 ? key : key.slice(0, brace)) !== name) continue;
    if (!Object.entries(labels).every(([k, x]) => key.includes(`${k}="${x}"`))) continue;
    total += v;
    found = true;
  }
  assert.ok(found, `no series ${name} ${JSON.stringify(labels)}`);
  return total;
}

describe('metrics of the supervisor: every metric of issue 11 after acks, retries, a dead letter, an OOM and a kill', () => {
  const queue = uniqueQueue('ops-metrics');
  let sup: Proc | undefined;
  let config: SupConfig | undefined;

  after(async () => {
    await killEverything(sup);
    config?.remove();
    await deleteQueues(queue);
    await closeConnection();
  });

  it('counts each outcome, keeps totals across a SIGKILLed child, and reports processes, restarts, queues and the build', { timeout: 240_000 }, async () => {
    const port = await freePort();
    await declareQueue(queue);
    config = new SupConfig({
      workers: { beh: { file: fixture('behave-worker.ts'), processes: 1, maxAttempts: 2, retryDelayMs: 200, env: { QUEUE: queue, MEMORY_LIMIT_MB: '48' } } },
      control: { port },
    });
    sup = startSupervisor(config);
    await sup.waitFor((l) => l.msg === 'beh_01 running', 60_000, 'beh_01 running');
    const scrape = async (): Promise<Map<string, number>> => {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(response.status, 200, 'no token needed for /metrics');
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      return parseMetrics(await response.text());
    };
    const l = { worker: 'beh', queue };

    for (let i = 0; i < 3; i++) await publish(queue, { do: 'ack' }, { messageId: `ack-${i}`, timestamp: Math.floor(Date.now() / 1000) });
    await publish(queue, { do: 'retry-once', ms: 100 }, { messageId: 'retry' });
    await publish(queue, { do: 'permanent' }, { messageId: 'dead' });
    await publish(queue, { do: 'oom' }, { messageId: 'oom' });

    // the OOM message dies twice in its isolate (maxAttempts 2), then is dead-lettered before a third run
    const settled = await eventually(
      async () => {
        const m = await scrape();
        return value(m, 'rabbit_worker_dead_lettered_total', { ...l, reason: 'max_attempts' }) === 1 && value(m, 'rabbit_worker_messages_handled_total', { ...l, outcome: 'ack' }) === 4 ? m : undefined;
      },
      120_000,
      'every message settled',
    );
    assert.equal(value(settled, 'rabbit_worker_messages_handled_total', { ...l, outcome: 'retry' }), 1);
    assert.equal(value(settled, 'rabbit_worker_messages_handled_total', { ...l, outcome: 'dead_letter' }), 2);
    assert.ok(value(settled, 'rabbit_worker_messages_handled_total', { ...l, outcome: 'requeue' }) >= 1, 'the OOM message went back to the queue');
    assert.equal(value(settled, 'rabbit_worker_dead_lettered_total', { ...l, reason: 'permanent_error' }), 1);
    assert.equal(value(settled, 'rabbit_worker_isolate_restarts_total', { ...l, reason: 'out_of_memory' }), 2);
    assert.ok(value(settled, 'rabbit_worker_handler_duration_seconds_count', { ...l, outcome: 'ack' }) === 4);
    assert.ok(value(settled, 'rabbit_worker_handler_duration_seconds_bucket', { ...l, outcome: 'ack', le: '+Inf' }) === 4);
    assert.ok(value(settled, 'rabbit_worker_queue_wait_seconds_count', l) >= 3, 'messages with a timestamp have a queue wait');
    assert.equal(value(settled, 'rabbit_worker_messages_in_flight', l), 0);
    assert.equal(value(settled, 'rabbit_worker_broker_connected', l), 1);
    assert.equal(value(settled, 'rabbit_worker_broker_connected', { worker: 'supervisor' }), 1);
    assert.equal(value(settled, 'rabbit_worker_processes', { ...l, state: 'running' }), 1);
    assert.equal(value(settled, 'rabbit_worker_process_restarts_total', l), 0);
    assert.equal(value(settled, 'rabbit_worker_build_info'), 1);
    assert.ok(value(settled, 'process_resident_memory_bytes') > 0, "prom-client's process metrics");
    // the queue figures come from the supervisor's own polling of the broker: absent until its first round
    await eventually(async () => valueOr(await scrape(), 'rabbit_worker_queue_messages', { queue, state: 'dead' }) === 2, 30_000, 'two dead letters counted in <queue>.dlq');
    const queues = await scrape();
    assert.equal(value(queues, 'rabbit_worker_queue_messages', { queue, state: 'ready' }), 0);
    assert.equal(value(queues, 'rabbit_worker_queue_messages', { queue, state: 'unacked' }), 0);
    assert.ok(value(queues, 'rabbit_worker_queue_messages', { queue: '*', state: 'delayed' }) >= 0);

    // a SIGKILLed child holding a message: restarted, the totals of its life stay, the message comes back
    // redelivered (the OOM message above came back as a counted copy of ours, which the broker does not flag)
    await publish(queue, { do: 'sleep', ms: 6000 }, { messageId: 'held' });
    await eventually(async () => value(await scrape(), 'rabbit_worker_messages_in_flight', l) === 1, 30_000, "'held' in flight");
    const pid = (await controlGet<SupervisorStatus>(port)).processes[0]?.pid;
    assert.ok(typeof pid === 'number');
    process.kill(pid, 'SIGKILL');
    const afterKill = await eventually(
      async () => {
        const m = await scrape();
        return value(m, 'rabbit_worker_process_restarts_total', l) === 1 && value(m, 'rabbit_worker_processes', { ...l, state: 'running' }) === 1 ? m : undefined;
      },
      90_000,
      'the killed child restarted and running',
    );
    assert.equal(value(afterKill, 'rabbit_worker_messages_handled_total', { ...l, outcome: 'ack' }), 4, 'the counter did not go backwards');
    assert.equal(value(afterKill, 'rabbit_worker_isolate_restarts_total', { ...l, reason: 'out_of_memory' }), 2);
    await publish(queue, { do: 'ack' }, { messageId: 'after-kill' });
    const final = await eventually(
      async () => {
        const m = await scrape();
        return value(m, 'rabbit_worker_messages_handled_total', { ...l, outcome: 'ack' }) === 6 ? m : undefined;
      },
      30_000,
      "the new process adds to the old totals ('held' again, and 'after-kill')",
    );
    assert.ok(value(final, 'rabbit_worker_redeliveries_total', l) >= 1, "'held' came back redelivered to the new process");
  });
});
