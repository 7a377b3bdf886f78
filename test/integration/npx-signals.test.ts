import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { closeConnection, deleteQueues, uniqueQueue } from '../helpers/broker.js';
import { installedApp } from '../helpers/app.js';
import { freePort } from '../helpers/sup-harness.js';
import { alive } from '../harness/index.js';

const WORKER = `import { WorkerTask, type MessageAdapter } from 'rabbit-worker';

export default class Echo extends WorkerTask {
  initialize(): void {
    super.initialize();
    this.setQueue(process.env.QUEUE ?? 'npx-echo');
  }

  async callback(message: MessageAdapter): Promise<void> {
    message.ack();
  }
}
`;


async function allGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Issue 12.1: whatever starts our processes, a stop must reach them. npx (npm exec) exits on SIGTERM
 * without passing it on; the supervisor and the workers notice that their parent went away and stop
 * gracefully. In a CommonJS app and an ES-module app.
 */
describe('npx rabbit-worker: a SIGTERM to npx stops what it started', () => {
  let cjs: string;
  let esm: string;
  const queues: string[] = [];
  const leftovers: number[] = [];

  before(() => {
    cjs = installedApp('rw-npx-cjs-');
    esm = mkdtempSync(join(tmpdir(), 'rw-npx-esm-'));
    writeFileSync(join(esm, 'package.json'), JSON.stringify({ name: 'esm-app', version: '1.0.0', type: 'module' }));
    symlinkSync(join(cjs, 'node_modules'), join(esm, 'node_modules'), 'dir');
    for (const dir of [cjs, esm]) {
      mkdirSync(join(dir, 'workers'), { recursive: true });
      writeFileSync(join(dir, 'workers', 'echo.ts'), WORKER);
    }
  });
  after(async () => {
    for (const pid of leftovers) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(esm, { recursive: true, force: true });
    rmSync(cjs, { recursive: true, force: true });
    await deleteQueues(...queues);
    await closeConnection();
  });

  const start = (cwd: string, args: string[], env: Record<string, string>): { proc: ReturnType<typeof spawn>; lines: Array<Record<string, unknown>>; wait: (pred: (l: Record<string, unknown>) => boolean, what: string) => Promise<Record<string, unknown>> } => {
    const proc = spawn('npx', ['--no-install', 'rabbit-worker', ...args], { cwd, env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Array<Record<string, unknown>> = [];
    let partial = '';
    let output = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      partial += chunk.toString();
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          lines.push({ msg: line });
        }
      }
    });
    proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const wait = async (pred: (l: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const found = lines.find(pred);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output.slice(-3000)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    return { proc, lines, wait };
  };

  for (const kind of ['CommonJS', 'ESM'] as const) {
    it(`${kind} app: npx rabbit-worker supervise — the supervisor and its workers stop gracefully`, async () => {
      const dir = kind === 'CommonJS' ? cjs : esm;
      const queue = uniqueQueue(`npx-sup-${kind}`);
      queues.push(queue);
      writeFileSync(join(dir, 'rabbit-worker.config.yaml'), stringify({ workers: { echo: { file: './workers/echo.ts', processes: 2, env: { QUEUE: queue } } }, control: { port: await freePort() } }));
      const { proc, lines, wait } = start(dir, ['supervise'], {});
      await wait((l) => l.msg === 'echo_01 running', 'echo_01 running');
      await wait((l) => l.msg === 'echo_02 running', 'echo_02 running');
      const supervisor = (await wait((l) => typeof l.msg === 'string' && l.msg.startsWith('supervising'), 'the supervisor')).pid as number;
      const children = lines.filter((l) => typeof l.msg === 'string' && l.msg.endsWith(' spawned')).map((l) => l.childPid as number);
      leftovers.push(supervisor, ...children);
      assert.equal(children.length, 2);
      proc.kill('SIGTERM');
      const left = await allGone([supervisor, ...children], 40_000);
      assert.deepEqual(left, [], 'nothing left running after npx went away');
      assert.ok(lines.some((l) => typeof l.msg === 'string' && /parent process \(pid \d+\) went away; stopping/.test(l.msg)), 'the supervisor noticed');
      assert.ok(lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('stopped (signal)')).length === 2, 'both workers stopped gracefully');
    });

    it(`${kind} app: npx rabbit-worker run — the worker stops gracefully`, async () => {
      const dir = kind === 'CommonJS' ? cjs : esm;
      const queue = uniqueQueue(`npx-run-${kind}`);
      queues.push(queue);
      const { proc, lines, wait } = start(dir, ['run', './workers/echo.ts'], { QUEUE: queue });
      const consuming = await wait((l) => typeof l.msg === 'string' && l.msg.startsWith('consuming '), 'consuming');
      const worker = consuming.pid as number;
      leftovers.push(worker);
      proc.kill('SIGTERM');
      assert.deepEqual(await allGone([worker], 30_000), [], 'the worker is gone');
      assert.ok(lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('stopped (signal)')), 'it stopped gracefully');
    });
  }
});
