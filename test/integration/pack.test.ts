import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { appBin, installedApp } from '../helpers/app.js';
import { closeConnection, declareQueue, deleteQueues, publish, uniqueQueue } from '../helpers/broker.js';
import { consuming, Proc, ROOT } from '../helpers/process.js';

const WORKER_TS = `import { WorkerTask, MessageAdapter, ShutdownHelper, Publisher, PermanentError } from 'rabbit-worker';
import { basename } from 'node:path';

// the names of the public contract are all there, typed
void [ShutdownHelper, Publisher, PermanentError];

export default class Doubler extends WorkerTask {
  initialize(): void {
    super.initialize();
    this.setQueue(process.env.QUEUE ?? 'doubler');
  }
  async callback(message: MessageAdapter<{ n: number }>): Promise<void> {
    const { n } = message.json();
    this.logger.info('doubled', { result: n * 2, file: basename(__filename) });
    message.ack();
  }
}
`;

describe('the npm package, installed into an empty CommonJS app', () => {
  let dir = '';
  const queue = uniqueQueue('pack');
  after(async () => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    await deleteQueues(queue);
    await closeConnection();
  });

  it('provides the bin and the typed API; a TypeScript worker runs with npx rabbit-worker run ./worker.ts', async () => {
    dir = installedApp();
    assert.notEqual(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).type, 'module', 'a CommonJS app, as npm init -y makes');
    writeFileSync(join(dir, 'worker.ts'), WORKER_TS);

    // typed: the worker type-checks against the installed declarations
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')] }, files: ['worker.ts'] }),
    );
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir, stdio: 'pipe' });

    await declareQueue(queue);
    await publish(queue, { n: 21 });
    const worker = new Proc([appBin(dir), 'run', './worker.ts', '--max-messages', '1'], { QUEUE: queue }, { cwd: dir });
    await consuming(worker);
    const { code } = await worker.exit(30_000);
    assert.equal(code, 0, worker.stdout + worker.stderr);
    const line = worker.lines.find((l) => l.msg === 'doubled');
    assert.equal(line?.result, 42);
    assert.equal(line?.file, 'worker.ts');
  });
});
