import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { declareQueue, eventually } from '../helpers/broker.js';
import { ROOT, type LogLine, type Proc } from '../helpers/process.js';
import { testScope } from '../helpers/scope.js';
import { freePort, killEverything, startSupervisor, SupConfig } from '../helpers/sup-harness.js';

const WORKER_TS = `import { WorkerTask, type MessageAdapter } from 'rabbit-worker';

export default class Prepared extends WorkerTask {
  initialize(): void {
    super.initialize();
    this.setQueue(process.env.QUEUE ?? 'prepared');
  }
  callback(message: MessageAdapter): void {
    message.ack();
  }
}
`;

const msgOf = (l: LogLine): string => (typeof l.msg === 'string' ? l.msg : '');

describe('supervise compiles each worker type once before it spawns the processes', () => {
  const scope = testScope();
  let sup: Proc | undefined;
  let config: SupConfig | undefined;
  after(async () => {
    await killEverything(sup);
    config?.remove();
  });

  it('three processes start from the cache the supervisor filled; a file that cannot compile is one CRITICAL line and its process still starts', { timeout: 120_000 }, async () => {
    const queue = scope.queue('sup-prepare');
    await declareQueue(queue);
    config = new SupConfig({
      workers: {
        prepared: { file: './worker.ts', processes: 3, env: { QUEUE: queue } },
        broken: { file: './broken.ts', processes: 1, startRetries: 0, env: { QUEUE: queue } },
      },
      control: { port: await freePort() },
    });
    // an app of its own (so its cache starts empty), whose `rabbit-worker` is this checkout
    mkdirSync(join(config.dir, 'node_modules'));
    symlinkSync(ROOT, join(config.dir, 'node_modules/rabbit-worker'));
    writeFileSync(join(config.dir, 'worker.ts'), WORKER_TS);
    writeFileSync(join(config.dir, 'broken.ts'), 'export default class {\n');

    sup = startSupervisor(config, { LOG_LEVEL: 'debug' });
    const s = sup;
    await eventually(() => s.lines.filter((l) => msgOf(l) === `consuming ${queue}`).length === 3, 60_000, 'three processes consuming', s);

    const compiled = s.lines.filter((l) => msgOf(l).startsWith('compiled '));
    assert.deepEqual(compiled.map((l) => [l.proc, msgOf(l).replace(/ in \d+ ms$/, '')]), [[undefined, 'compiled worker.ts for prepared']], 'compiled once, by the supervisor');
    const fromCache = s.lines.filter((l) => msgOf(l) === 'loaded worker.ts from the compile cache').map((l) => l.proc);
    assert.deepEqual(fromCache.sort(), ['prepared_01', 'prepared_02', 'prepared_03']);

    const critical = s.lines.find((l) => l.level === 'critical' && msgOf(l).startsWith('cannot compile broken.ts for broken: '));
    assert.ok(critical, s.stdout.slice(-3000));
    assert.match(msgOf(critical), /broken\.ts:2:1: .*; its processes will load it through tsx$/);
    assert.ok(s.lines.some((l) => msgOf(l) === 'broken_01 spawned'), 'the type still starts');
  });
});
