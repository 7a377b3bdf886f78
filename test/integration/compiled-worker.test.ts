import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { appBin, installedApp } from '../helpers/app.js';
import { declareQueue, drain, eventually, publish } from '../helpers/broker.js';
import { consuming, Proc } from '../helpers/process.js';
import { testScope } from '../helpers/scope.js';

// The places the stack must name: `check(n)` is called at line 12, column 5 of boom.ts, and throws at line
// 4, column 20 of check.ts (`new Error`). Keep them in step with the text below.
const BOOM_TS = `import { WorkerTask, type MessageAdapter } from 'rabbit-worker';
import { check } from '../lib/check';

export default class Boom extends WorkerTask {
  initialize(): void {
    super.initialize();
    this.setQueue(process.env.QUEUE ?? 'boom');
  }
  callback(message: MessageAdapter<{ n: number }>): void {
    const { n } = message.json();
    this.logger.info('checking', { n });
    check(n);
    message.ack();
  }
}
`;

const CHECK_TS = `type Positive = number;

export function check(n: number): Positive {
  if (n < 0) throw new Error(\`negative: \${n}\`);
  return n;
}
`;

/** Writes the worker and its helper into `dir`, an app of the given module type. */
function writeWorker(dir: string): void {
  mkdirSync(join(dir, 'workers'), { recursive: true });
  mkdirSync(join(dir, 'lib'), { recursive: true });
  writeFileSync(join(dir, 'workers/boom.ts'), BOOM_TS);
  writeFileSync(join(dir, 'lib/check.ts'), CHECK_TS);
}

describe('TypeScript workers of an installed app start compiled, and their stack traces name the .ts lines', () => {
  const scope = testScope();
  let root = '';
  before(() => {
    // the npm init -y app is CommonJS; beside it, an ES module package that shares its node_modules
    root = installedApp('rw-compiled-');
    writeWorker(root);
    mkdirSync(join(root, 'esm'));
    writeFileSync(join(root, 'esm/package.json'), JSON.stringify({ name: 'esm-app', private: true, type: 'module' }));
    writeWorker(join(root, 'esm'));
  });
  after(() => {
    if (root !== '') rmSync(root, { recursive: true, force: true });
  });

  for (const kind of ['CommonJS', 'ES module'] as const) {
    it(`${kind} app: the dead letter's stack header says workers/boom.ts:12:5 and lib/check.ts:4:20`, async () => {
      const dir = kind === 'CommonJS' ? root : join(root, 'esm');
      const queue = scope.queue(kind === 'CommonJS' ? 'stack-cjs' : 'stack-esm');
      await declareQueue(queue);
      await publish(queue, { n: -1 }, { messageId: 'm-negative' });
      const run = (): Proc => scope.track(new Proc([appBin(root), 'run', './workers/boom.ts', '--max-attempts', '1'], { QUEUE: queue }, { cwd: dir }));

      const worker = run();
      await consuming(worker);
      assert.ok(worker.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('compiled workers/boom.ts (3 inputs) in ')), 'compiled, not loaded through tsx');
      const [dead] = await eventually(async () => {
        const messages = await drain(`${queue}.dlq`);
        return messages.length > 0 ? messages : undefined;
      }, 20_000, 'the dead letter', worker);
      const stack = String(dead?.properties.headers?.['x-rabbit-worker-stack']);
      assert.match(stack, /^Error: negative: -1\n/);
      assert.match(stack, new RegExp(`at check \\(${dir}/lib/check\\.ts:4:20\\)`), stack);
      assert.match(stack, new RegExp(`at Boom\\.callback \\(${dir}/workers/boom\\.ts:12:5\\)`), stack);
      assert.doesNotMatch(stack, /data:text\/javascript|node_modules\/\.cache/);
      worker.kill('SIGTERM');
      assert.equal((await worker.exit()).code, 0, worker.stderr);

      // the next start finds the compiled file
      const again = run();
      await consuming(again);
      assert.ok(again.messages('loaded workers/boom.ts from the compile cache').length > 0, again.stdout);
      again.kill('SIGTERM');
      assert.equal((await again.exit()).code, 0, again.stderr);
    });
  }

  it('rabbit-worker prepare warms the cache: compiled once, then "compiled already"; an edit compiles again', async () => {
    const dir = join(root, 'esm');
    writeFileSync(join(dir, 'lib/check.ts'), `${CHECK_TS}// edited\n`);
    const prepare = (): Proc => scope.track(new Proc([appBin(root), 'prepare', './workers/boom.ts'], {}, { cwd: dir }));
    const first = prepare();
    assert.equal((await first.exit()).code, 0, first.stderr);
    // the cache is the app's, above this package: shown by its absolute path
    assert.match(first.stdout, new RegExp(`^workers/boom\\.ts: compiled in \\d+ ms \\(3 inputs\\) → ${root}/node_modules/\\.cache/rabbit-worker/boom-[0-9a-f]+-[0-9a-f]+\\.mjs$`, 'm'));
    const second = prepare();
    assert.equal((await second.exit()).code, 0, second.stderr);
    assert.match(second.stdout, /^workers\/boom\.ts: compiled already/m);
  });
});
