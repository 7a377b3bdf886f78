import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { SupervisorStatus } from '../../src/supervisor/supervisor.js';
import { closeConnection, deleteQueues, depth, eventually, publish, uniqueQueue } from '../helpers/broker.js';
import { cli, fixture, type Proc } from '../helpers/process.js';
import { controlGet, handledCounts, killEverything, startSupervisor, SupConfig, freePort } from '../helpers/sup-harness.js';

describe('supervise: FATAL', () => {
  const goodQueue = uniqueQueue('sup-good');
  const badQueue = uniqueQueue('sup-bad');
  let sup: Proc | undefined;
  let config: SupConfig | undefined;

  after(async () => {
    await killEverything(sup);
    config?.remove();
    await deleteQueues(goodQueue, badQueue);
    await closeConnection();
  });

  it('a worker that throws at load goes FATAL after 1 + startRetries tries, exit 2 goes FATAL at once, the other type keeps consuming', { timeout: 180_000 }, async () => {
    const port = await freePort();
    config = new SupConfig({
      workers: {
        good: { file: fixture('behave-worker.ts'), processes: 1, env: { QUEUE: goodQueue } },
        loadfail: { file: fixture('sup-load-fail-worker.ts'), processes: 1, startRetries: 2, startSeconds: 3 },
        badconf: { file: fixture('sup-bad-settings-worker.ts'), processes: 1, env: { QUEUE: badQueue } },
        // defect 8.10: a wrong password is not "unreachable, retried for ever": FATAL at once, and status says why
        wrongpass: { file: fixture('behave-worker.ts'), processes: 1, url: 'amqp://guest:wr@ng@127.0.0.1:5672', env: { QUEUE: badQueue } },
      },
      control: { port },
    });
    sup = startSupervisor(config);
    const s = sup;
    const spawned = (proc: string): number => s.lines.filter((l) => l.msg === `${proc} spawned`).length;

    // exit 2 (prefetch 0 set by the worker): FATAL at once, never restarted
    // the cause is the worker's own words, reported over IPC before it exited (defect 8.10: status shows why)
    const badFatal = await s.waitFor(
      (l) => l.level === 'critical' && /^badconf_01 is FATAL: exit code 2: configuration error \(CONFIG_INVALID: prefetch: .*\); not restarted: fix it and reload$/.test(String(l.msg)),
      60_000,
      'badconf FATAL',
    );
    assert.equal(badFatal.reason, 'config-error');
    assert.equal(spawned('badconf_01'), 1);
    assert.ok(s.lines.some((l) => l.proc === 'badconf_01' && /prefetch/.test(String(l.msg))), "the child's own line names the bad setting");

    // a load failure: 1 + 2 tries, then FATAL with a clear line, and the type is reported FATAL
    const loadFatal = await s.waitFor((l) => l.level === 'critical' && l.msg === 'loadfail_01 is FATAL: failed to start 3 time(s) in a row (startRetries 2, startSeconds 3)', 90_000, 'loadfail FATAL');
    assert.equal(loadFatal.reason, 'too-many-failed-starts');
    assert.ok(JSON.stringify(loadFatal.stderr ?? []).includes('told to fail at load time') || s.lines.some((l) => l.proc === 'loadfail_01' && JSON.stringify(l).includes('told to fail at load time')), 'the cause is in the log');
    await s.waitFor((l) => l.msg === 'worker type loadfail is FATAL: none of its processes runs; the other types keep running', 10_000, 'type FATAL');
    assert.equal(spawned('loadfail_01'), 3);
    const backoffs = s.lines.filter((l) => l.proc === 'loadfail_01' && typeof l.delayMs === 'number').map((l) => l.delayMs);
    assert.deepEqual(backoffs, [500, 1000], 'growing backoff between failed starts');

    // the good type keeps running and consuming
    await s.waitFor((l) => l.msg === 'good_01 running', 60_000, 'good_01 running');
    for (let i = 0; i < 5; i++) await publish(goodQueue, { do: 'ack' }, { messageId: `g-${i}` });
    await eventually(() => handledCounts(s).size === 5, 30_000, 'the good type handling its messages');
    await eventually(async () => (await depth(goodQueue)) === 0, 10_000, 'good queue empty');
    assert.equal(spawned('loadfail_01'), 3, 'FATAL is never restarted');
    assert.equal(spawned('badconf_01'), 1);

    // the workers report their counts every 2 s
    await eventually(async () => (await controlGet<SupervisorStatus>(port)).processes.find((p) => p.name === 'good_01')?.handled === 5, 30_000, 'good_01 reporting 5 handled');

    // the queues too (read from the broker every 5 s), and the delay levels' total
    let last: SupervisorStatus['queues'];
    await eventually(async () => (last = (await controlGet<SupervisorStatus>(port)).queues)?.find((q) => q.name === goodQueue)?.consumers === 1, 30_000, 'the good queue in status').catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(last)}`);
    });

    // status shows it, from the CLI (found through the config file) and as JSON
    const table = cli(['status', config.path], config.env);
    assert.equal((await table.exit(30_000)).code, 0, table.stderr);
    assert.match(table.stdout, /^TYPE\s+PROCESS\s+STATE\s+PID\s+UPTIME\s+RESTARTS\s+LAST EXIT\s+HANDLED/m);
    assert.match(table.stdout, /^loadfail\s+loadfail_01\s+FATAL\s+-\s+-\s+2\s+exit 1/m);
    assert.match(table.stdout, /^badconf\s+badconf_01\s+FATAL\s+-\s+-\s+0\s+exit 2/m);
    assert.match(table.stdout, /^badconf_01: FATAL: exit code 2: configuration error \(CONFIG_INVALID: prefetch/m);
    assert.match(table.stdout, /^wrongpass_01: FATAL: exit code 2: configuration error \(BROKER_ACCESS_REFUSED: credentials refused for user "guest" on vhost "\/" at 127\.0\.0\.1:5672/m);
    assert.doesNotMatch(table.stdout, /wr@ng|rabbitmq-server -detached/);
    assert.match(table.stdout, /^good\s+good_01\s+RUNNING\s+\d+\s+\S+\s+0\s+-\s+5\s/m);
    assert.match(table.stdout, /^QUEUE\s+READY\s+CONSUMERS\s+DEAD LETTERS$/m);
    assert.match(table.stdout, new RegExp(`^${goodQueue}\\s+0\\s+1\\s+0$`, 'm'));
    assert.match(table.stdout, /^delayed \(the shared delay levels, every queue of the vhost\): \d+$/m);
    const json = cli(['status', '--json', '--port', String(port)], config.env);
    assert.equal((await json.exit(30_000)).code, 0, json.stderr);
    const status = JSON.parse(json.stdout) as SupervisorStatus;
    assert.deepEqual(status.types.map((t) => [t.name, t.desired, t.running, t.fatal]), [['good', 1, 1, 0], ['loadfail', 1, 0, 1], ['badconf', 1, 0, 1], ['wrongpass', 1, 0, 1]]);

    s.kill('SIGTERM');
    assert.equal((await s.exit(60_000)).code, 0);
  });

  it('a bad value in the config stops supervise before it starts anything (exit 2, one line naming the field)', { timeout: 60_000 }, async () => {
    const bad = new SupConfig({ workers: { a: { file: fixture('behave-worker.ts'), prefetch: 0 } }, control: { port: await freePort() } });
    try {
      const p = startSupervisor(bad);
      const { code } = await p.exit(30_000);
      assert.equal(code, 2);
      assert.match(p.stderr, /^rabbit-worker: .*workers\.a\.prefetch: Too small.*\n$/);
      assert.ok(!p.lines.some((l) => String(l.msg).endsWith(' spawned')));
    } finally {
      bad.remove();
    }
  });
});
