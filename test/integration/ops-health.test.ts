import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startApp, stopApp } from '../harness/index.js';
import { eventually } from '../helpers/broker.js';
import { privateBrokers } from '../helpers/private-broker.js';
import { cli, fixture, type Proc } from '../helpers/process.js';
import { freePort, killEverything, startSupervisor, SupConfig } from '../helpers/sup-harness.js';

async function probe(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const connected = async (port: number, worker: string): Promise<number | undefined> => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const line = text.split('\n').find((l) => l.startsWith('rabbit_worker_broker_connected{') && l.includes(`worker="${worker}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('/healthz and /readyz during a broker outage (a private node: the system node is never stopped)', () => {
  const brokers = privateBrokers();
  let sup: Proc | undefined;
  let worker: Proc | undefined;
  let config: SupConfig | undefined;

  after(async () => {
    worker?.kill('SIGKILL');
    await killEverything(sup);
    config?.remove();
  });

  it('stays live and becomes not ready while the broker is away, ready again once it is back: supervisor and run --http-port', { timeout: 300_000 }, async () => {
    const node = await brokers.node();
    const env = { AMQP_URL: node.url };
    const queue = `ops-health-${Date.now().toString(36)}`;
    const controlPort = await freePort();
    const httpPort = await freePort();
    config = new SupConfig({ workers: { hl: { file: fixture('behave-worker.ts'), processes: 1, env: { QUEUE: queue } } }, control: { port: controlPort } });
    sup = startSupervisor(config, env);
    worker = cli(['run', fixture('behave-worker.ts'), '--http-port', String(httpPort)], { ...env, QUEUE: queue, LOG_LEVEL: 'info' });
    await eventually(async () => (await probe(controlPort, '/readyz').catch(() => ({ status: 0 }))).status === 200, 60_000, 'supervisor ready');
    await eventually(async () => (await probe(httpPort, '/readyz').catch(() => ({ status: 0 }))).status === 200, 60_000, 'worker ready');
    assert.equal(await connected(httpPort, 'behave-worker'), 1);

    await stopApp(node);
    const supDown = await eventually(async () => {
      const r = await probe(controlPort, '/readyz');
      return r.status === 503 ? r : undefined;
    }, 60_000, 'supervisor not ready during the outage');
    assert.match(String(supDown.body.reason), /hl: 0 of 1 process\(es\) consuming \(others: reconnecting\)/);
    const workerDown = await eventually(async () => {
      const r = await probe(httpPort, '/readyz');
      return r.status === 503 ? r : undefined;
    }, 60_000, 'worker not ready during the outage');
    assert.equal(workerDown.body.state, 'reconnecting');
    // live all along: a broker outage must not get workers restarted
    assert.equal((await probe(controlPort, '/healthz')).status, 200);
    assert.equal((await probe(httpPort, '/healthz')).status, 200);
    assert.equal(await connected(httpPort, 'behave-worker'), 0);
    await eventually(async () => (await connected(controlPort, 'hl')) === 0 && (await connected(controlPort, 'supervisor')) === 0, 30_000, 'metrics say disconnected');

    await startApp(node);
    await eventually(async () => (await probe(controlPort, '/readyz')).status === 200, 120_000, 'supervisor ready again');
    await eventually(async () => (await probe(httpPort, '/readyz')).status === 200, 120_000, 'worker ready again');
    assert.equal((await probe(httpPort, '/healthz')).status, 200);
    await eventually(async () => (await connected(controlPort, 'supervisor')) === 1, 90_000, 'the supervisor reconnected too');
  });
});
