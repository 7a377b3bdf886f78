import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { SupervisorStatus } from '../../src/supervisor/supervisor.js';
import { closeConnection, declareQueue, deleteQueues, depth, eventually, publish, uniqueQueue } from '../helpers/broker.js';
import { cli, fixture, type Proc } from '../helpers/process.js';
import { authHeader, controlGet, controlPost, freePort, handledCounts, killEverything, startSupervisor, SupConfig } from '../helpers/sup-harness.js';

describe('supervise: scaling, reload and a graceful stop', () => {
  const queue = uniqueQueue('sup-scale');
  let sup: Proc | undefined;
  let config: SupConfig | undefined;

  after(async () => {
    await killEverything(sup);
    config?.remove();
    await deleteQueues(queue);
    await closeConnection();
  });

  it('scales up and down (CLI, control endpoint, SIGHUP reload) while messages flow, then stops every child with nothing lost', { timeout: 240_000 }, async () => {
    const port = await freePort();
    await declareQueue(queue);
    config = new SupConfig({
      workers: { flow: { file: fixture('behave-worker.ts'), processes: 1, prefetch: 2, env: { QUEUE: queue, STOP_TIMEOUT: '20' } } },
      control: { port },
    });
    sup = startSupervisor(config);
    const s = sup;
    const running = async (): Promise<string[]> =>
      (await controlGet<SupervisorStatus>(port)).processes.filter((p) => p.state === 'running').map((p) => p.name);

    await s.waitFor((l) => l.msg === 'flow_01 running', 60_000, 'flow_01 running');

    // messages keep flowing during every change below
    const ids: string[] = [];
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing; i++) {
        const id = `m-${i}`;
        await publish(queue, { do: 'sleep', ms: 40 }, { messageId: id });
        ids.push(id);
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    })();

    try {
      // up with the CLI, which finds the port through the config file
      const up = cli(['scale', 'flow', '3', config.path], config.env);
      assert.equal((await up.exit(30_000)).code, 0, up.stderr);
      assert.match(up.stdout, /flow: 3 process\(es\) wanted/);
      await eventually(async () => (await running()).length === 3, 90_000, '3 running');

      // down with the control endpoint: the two extra processes stop gracefully (SIGTERM, exit 0)
      const down = await controlPost<{ desired: number }>(port, '/scale', { type: 'flow', n: 1 });
      assert.equal(down.status, 200);
      assert.equal(down.body.desired, 1);
      for (const name of ['flow_02', 'flow_03']) {
        const stopped = await s.waitFor((l) => l.msg === `${name} stopped (code 0)`, 60_000, `${name} stopped`);
        assert.equal(stopped.code, 0);
      }
      assert.deepEqual(await running(), ['flow_01']);
      assert.equal((await controlPost<{ error: string }>(port, '/scale', { type: 'nope', n: 1 })).status, 404);
      const noJson = await fetch(`http://127.0.0.1:${port}/scale`, { method: 'POST', headers: authHeader(port), body: '{"type":"flow","n":5}' });
      assert.equal(noJson.status, 415, 'POST without Content-Type: application/json is refused');

      // reload: the config file now says 2 processes
      config.value.workers.flow = { ...config.value.workers.flow, processes: 2 };
      config.write();
      s.child.kill('SIGHUP');
      await s.waitFor((l) => l.msg === 'configuration reloaded', 30_000, 'reloaded');
      await eventually(async () => (await running()).length === 2, 90_000, '2 running after the reload');

      // reload through the endpoint with changed settings: the type is replaced, the old processes finish first
      const oldPids = new Set((await controlGet<SupervisorStatus>(port)).processes.map((p) => p.pid));
      config.value.workers.flow = { ...config.value.workers.flow, env: { QUEUE: queue, STOP_TIMEOUT: '20', RELOADED: 'yes' } };
      config.write();
      const reloaded = await controlPost<{ restarted: string[] }>(port, '/reload', {});
      assert.equal(reloaded.status, 200);
      assert.deepEqual(reloaded.body.restarted, ['flow']);
      await eventually(
        async () => {
          const status = await controlGet<SupervisorStatus>(port);
          const fresh = status.processes.filter((p) => p.state === 'running' && !oldPids.has(p.pid));
          return fresh.length === 2 && status.processes.length === 2;
        },
        90_000,
        '2 fresh processes, the old ones gone',
      );
      const oldStops = s.lines.filter((l) => typeof l.childPid === 'number' && oldPids.has(l.childPid) && /^flow_0[12] stopped/.test(String(l.msg)));
      assert.deepEqual(oldStops.map((l) => l.code), [0, 0], 'the replaced processes stopped gracefully');
    } finally {
      publishing = false;
      await publisher;
    }
    const published = ids.length;
    assert.ok(published > 20, `published ${published}`);

    // everything published so far is handled, exactly once (graceful stops do not redeliver)
    await eventually(() => handledCounts(s).size === published, 90_000, `all ${published} messages handled`);

    // a graceful stop with callbacks in flight: scale to 4 first, to stop several at once
    const four = await controlPost(port, '/scale', { type: 'flow', n: 4 });
    assert.equal(four.status, 200);
    await eventually(async () => (await running()).length === 4, 90_000, '4 running');
    for (let i = 0; i < 8; i++) {
      const id = `slow-${i}`;
      await publish(queue, { do: 'sleep', ms: 3000 }, { messageId: id });
      ids.push(id);
    }
    await eventually(async () => (await controlGet<SupervisorStatus>(port)).processes.reduce((n, p) => n + p.inflight, 0) >= 4, 30_000, 'slow messages in flight');
    const stopAt = Date.now();
    s.kill('SIGTERM');
    const { code } = await s.exit(90_000);
    const stopMs = Date.now() - stopAt;
    assert.equal(code, 0);
    const summary = s.lines.find((l) => /^stopped \d+ process\(es\) in \d+ ms$/.test(String(l.msg)));
    assert.ok(summary, 'the supervisor says how long the stop took');
    assert.equal(summary.killed, 0, 'nobody needed SIGKILL');
    console.log(`time to stop 4 children with callbacks of 3 s in flight: ${String(summary.durationMs)} ms (supervisor exit after ${stopMs} ms)`);
    assert.ok(stopMs < 20_000 + 10_000, 'within stopTimeout + margin');

    // nothing lost: the slow messages either finished before the stop or are back in the queue, untouched
    const counts = handledCounts(s);
    const duplicates = [...counts].filter(([, n]) => n > 1);
    assert.deepEqual(duplicates, [], 'each message handled once');
    const left = await depth(queue);
    assert.equal(counts.size + left, ids.length, `${counts.size} handled + ${left} left = ${ids.length} published`);
    assert.equal(left, 0, 'the in-flight callbacks finished within stopTimeout; the queue is empty');
  });
});
