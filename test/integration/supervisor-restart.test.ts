import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { SupervisorStatus } from '../../src/supervisor/supervisor.js';
import { closeConnection, declareQueue, deleteQueues, depth, eventually, publish, uniqueQueue } from '../helpers/broker.js';
import { fixture, type Proc } from '../helpers/process.js';
import { controlGet, freePort, killEverything, ofProc, startSupervisor, SupConfig } from '../helpers/sup-harness.js';

describe('supervise: restarts', () => {
  const crashQueue = uniqueQueue('sup-crash');
  const ttlQueue = uniqueQueue('sup-ttl');
  let sup: Proc | undefined;
  let config: SupConfig | undefined;

  const poisonQueue = uniqueQueue('sup-poison');
  after(async () => {
    await killEverything(sup);
    config?.remove();
    await deleteQueues(crashQueue, ttlQueue, poisonQueue);
    await closeConnection();
  });

  it('restarts a child killed with -9 mid-callback (its message is redelivered and handled) and restarts TTL exits', { timeout: 180_000 }, async () => {
    const port = await freePort();
    config = new SupConfig({
      workers: {
        crash: { file: fixture('behave-worker.ts'), processes: 1, env: { QUEUE: crashQueue } },
        ttl: { file: fixture('behave-worker.ts'), processes: 1, env: { QUEUE: ttlQueue }, ttl: 2 },
      },
      control: { port },
    });
    sup = startSupervisor(config);
    const s = sup;
    await s.waitFor((l) => l.msg === 'crash_01 running', 60_000, 'crash_01 running');

    // --- kill -9 in the middle of a callback
    await publish(crashQueue, { do: 'sleep', ms: 8000 }, { messageId: 'held-1' });
    await s.waitFor(ofProc('crash_01', 'callback'), 30_000, 'the callback of held-1');
    // the worker reports what it handles every 2 s: wait until the supervisor knows, so the CRITICAL line can say it
    const victim = await eventually(async () => {
      const status = await controlGet<SupervisorStatus>(port);
      const p = status.processes.find((x) => x.name === 'crash_01');
      return p?.inflightIds.includes('held-1') && p.pid !== null ? p.pid : undefined;
    }, 30_000, 'crash_01 reporting held-1 in flight');
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');

    const critical = await s.waitFor((l) => l.level === 'critical' && l.proc === 'crash_01' && /ended abnormally/.test(String(l.msg)), 30_000, 'the CRITICAL line');
    assert.equal(critical.childPid, victim);
    assert.equal(critical.signal, 'SIGKILL');
    assert.deepEqual(critical.inflightIds, ['held-1']);
    assert.match(String(critical.msg), /signal SIGKILL.*held-1/);

    const respawn = await s.waitFor((l) => l.msg === 'crash_01 spawned' && l.childPid !== victim, 30_000, 'crash_01 spawned again');
    const consuming = await s.waitFor((l) => l.proc === 'crash_01' && l.pid === respawn.childPid && String(l.msg).startsWith('consuming '), 60_000, 'the new crash_01 consuming');
    const redelivered = await s.waitFor((l) => ofProc('crash_01', 'callback')(l) && l.pid === respawn.childPid && l.messageId === 'held-1', 60_000, 'held-1 redelivered');
    assert.equal(redelivered.attempt, 2);
    await s.waitFor((l) => ofProc('crash_01', 'handled')(l) && l.messageId === 'held-1', 30_000, 'held-1 handled');
    await eventually(async () => (await depth(crashQueue)) === 0, 20_000, 'crash queue empty');
    console.log(
      `restart after kill -9: spawned again ${Number(respawn.time) - killedAt} ms after the kill, consuming again after ${Number(consuming.time) - killedAt} ms`,
    );

    // --- TTL exits (ttl: 2) are restarted at once, with a new pid
    const ttlPids = await eventually(() => {
      const pids = new Set(s.lines.filter((l) => l.msg === 'ttl_01 spawned').map((l) => l.childPid));
      return pids.size >= 3 ? pids : undefined;
    }, 60_000, 'ttl_01 spawned three times');
    assert.ok(ttlPids.size >= 3);
    const ttlExits = s.lines.filter((l) => l.proc === 'ttl_01' && /^ttl_01 exited \(code 0\)/.test(String(l.msg)));
    assert.ok(ttlExits.length >= 2, 'exit 0 at the TTL, restarted at once');
    assert.ok(!s.lines.some((l) => l.level === 'critical' && l.proc === 'ttl_01'), 'a TTL exit is not abnormal');
    const ttlStatus = (await controlGet<SupervisorStatus>(port)).processes.find((p) => p.name === 'ttl_01');
    assert.ok(ttlStatus && ttlStatus.restarts >= 2);
    assert.equal(ttlStatus.lastExit?.code, 0);

    // --- a clean stop
    s.kill('SIGTERM');
    const { code } = await s.exit(60_000);
    assert.equal(code, 0);
    for (const pid of new Set(s.lines.filter((l) => typeof l.childPid === 'number').map((l) => l.childPid as number))) {
      assert.throws(() => process.kill(pid, 0), 'no child left behind');
    }
  });

  it('a message that kills its process right after it starts consuming (isolation none) is not a failed start: never FATAL, the message is dead-lettered, the queue keeps its consumer', { timeout: 180_000 }, async () => {
    await killEverything(sup);
    config?.remove();
    const port = await freePort();
    config = new SupConfig({
      // startSeconds 5: every crash comes well within it, as with a warm compile cache and any startSeconds
      workers: { none: { file: fixture('behave-worker.ts'), processes: 1, isolation: 'none', maxAttempts: 2, startSeconds: 5, startRetries: 2, env: { QUEUE: poisonQueue } } },
      control: { port },
    });
    await declareQueue(poisonQueue);
    for (const id of ['p1', 'p2']) await publish(poisonQueue, { do: 'exit' }, { messageId: id });
    for (const id of ['ok1', 'ok2']) await publish(poisonQueue, { do: 'ack' }, { messageId: id });
    sup = startSupervisor(config);
    const s = sup;
    await eventually(async () => (await depth(`${poisonQueue}.dlq`)) === 2, 120_000, 'both poison messages dead-lettered', s);
    await eventually(() => ['ok1', 'ok2'].every((id) => s.lines.some((l) => l.msg === 'handled' && l.messageId === id)), 60_000, 'the others handled', s);
    assert.ok(!s.lines.some((l) => typeof l.msg === 'string' && / is FATAL/.test(l.msg)), 'never FATAL');
    await eventually(async () => (await controlGet<SupervisorStatus>(port)).processes.some((p) => p.name === 'none_01' && p.state === 'running'), 60_000, 'none_01 running again');
    s.kill('SIGTERM');
    assert.equal((await s.exit(60_000)).code, 0);
  });
});
