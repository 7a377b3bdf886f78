import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packTarball } from '../helpers/app.js';
import { readBlocks, shellCommands, type DocBlock } from '../helpers/doc-blocks.js';
import { privateBrokers } from '../helpers/private-broker.js';
import { onLines, ROOT } from '../helpers/process.js';
import { freePort } from '../helpers/sup-harness.js';
import type { BrokerNode } from '../harness/index.js';
import { alive } from '../harness/index.js';

const PAGE = 'docs/cookbook.md';
/** The comment that ends the part of the cookbook this test runs. */
const END = /^<!-- The walkthrough ends here/m;

type Line = Record<string, unknown> & { msg?: string; proc?: string };

/** `npx rabbit-worker supervise`, started as a terminal would: its own process group, so that Ctrl-C is a SIGINT to the group. */
class Supervise {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  output = '';

  constructor(command: string, cwd: string, env: NodeJS.ProcessEnv) {
    this.child = spawn('bash', ['-c', command], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    onLines(this.child.stdout, (line) => this.lines.push(line as Line));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  async waitFor(predicate: (line: Line) => boolean, what: string, timeoutMs = 90_000): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(predicate);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; supervisor output:\n${this.output.slice(-5000)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Every pid the supervisor logged: itself and its children. */
  pids(): number[] {
    return [...new Set(this.lines.flatMap((l) => [l.childPid, typeof l.msg === 'string' && l.msg.startsWith('supervising') ? l.pid : undefined]).filter((p): p is number => typeof p === 'number'))];
  }
}


/**
 * Issue 12, "Done when": docs/cookbook.md starts from an empty directory and reaches a supervised, typed
 * worker and its typed publisher, and every block in it runs as written. This test follows sections 1–9 in
 * a fresh directory: each block written to the file it names, each shell command run with bash where the
 * cookbook shows it, `npx rabbit-worker supervise` kept running as in a terminal. Two things differ, and
 * only these: `npm install rabbit-worker` installs this checkout's packed tarball (and every install prefers
 * npm's cache), and the broker is a private RabbitMQ node (AMQP_URL, which the cookbook names) on a free
 * port, so that the cookbook's own queue names collide with nothing; `control.port` is rewritten to a free
 * port for the same reason. It measures the time from `npm init -y` to the first handled message.
 */
describe('the cookbook, as written, from an empty directory', () => {
  const brokers = privateBrokers();
  let node: BrokerNode;
  let packDir: string;
  let tarball: string;
  let root: string | undefined;
  let supervise: Supervise | undefined;

  before(async () => {
    packDir = mkdtempSync(join(tmpdir(), 'rw-cookbook-pack-'));
    tarball = packTarball(packDir);
    node = await brokers.node();
  });
  after(async () => {
    if (supervise !== undefined) {
      const pids = supervise.pids();
      // a test that failed half-way leaves them running: nothing of this test may outlive it
      for (const target of [...(supervise.child.pid === undefined ? [] : [-supervise.child.pid]), ...pids]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
    rmSync(packDir, { recursive: true, force: true });
  });

  it('sections 1–9 run as written: the first message handled (timed from npm init -y), a dead letter listed, replayed and handled, Ctrl-C stops it all', { timeout: 900_000 }, async () => {
    const markdown = readFileSync(join(ROOT, PAGE), 'utf8');
    const endLine = markdown.slice(0, END.exec(markdown)?.index ?? assert.fail(`${PAGE} has no "walkthrough ends here" comment`)).split('\n').length;
    const blocks = readBlocks(ROOT, PAGE).filter((b) => b.line < endLine);
    root = mkdtempSync(join(tmpdir(), 'rw-cookbook-'));
    let cwd = root;
    const env: NodeJS.ProcessEnv = { ...process.env, AMQP_URL: node.url };
    for (const key of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'LOG_FORMAT', 'LOG_LEVEL', 'RABBIT_WORKER_TOKEN']) delete env[key];

    const timings: Record<string, number> = {};
    let started: number | undefined;
    let firstHandled: number | undefined;
    let commands = 0;
    const files: string[] = [];
    const handled = (imageId: string) => (l: Line): boolean => l.msg === 'thumbnail written' && typeof l.target === 'string' && l.target.includes(`${imageId}-`);

    const write = (block: DocBlock): void => {
      if (block.path === undefined) assert.fail(`${PAGE}:${block.line}: a ${block.lang} block in the walkthrough must name its file on its first line`);
      const path = join(cwd, block.path);
      mkdirSync(dirname(path), { recursive: true });
      let text = block.text;
      // the one change to a file: the control port, free on this machine
      if (block.path === 'rabbit-worker.config.yaml') text = text.replace(/^(\s+port:\s*)\d+/m, (_, key: string) => `${key}${controlPort}`);
      if (block.continued) appendFileSync(path, text);
      else writeFileSync(path, text);
      files.push(block.path);
    };
    const controlPort = await freePort();

    for (const block of blocks) {
      if (['ts', 'js', 'jsonc', 'json', 'yaml'].includes(block.lang)) {
        write(block);
        continue;
      }
      if (block.lang !== 'sh') continue;
      for (const { line, command } of shellCommands(block)) {
        commands++;
        const where = `${PAGE}:${line}: ${command}`;
        const mkdirCd = /^mkdir (\S+) && cd \1$/.exec(command);
        if (mkdirCd !== null) {
          cwd = join(root, mkdirCd[1] as string);
          mkdirSync(cwd);
          continue;
        }
        if (/^npx rabbit-worker supervise$/.test(command)) {
          const t = performance.now();
          supervise = new Supervise(command, cwd, env);
          // as a user does: wait for the processes to say they consume
          await supervise.waitFor((l) => l.msg === 'resize-image_01 running', 'resize-image_01 running');
          await supervise.waitFor((l) => l.msg === 'resize-image_02 running', 'resize-image_02 running');
          timings['supervise → 2 processes running'] = performance.now() - t;
          continue;
        }
        let run = command;
        if (/^npm install\b/.test(command)) run = `${command.replace(/(^|\s)rabbit-worker(?=\s|$)/, `$1${tarball}`)} --prefer-offline --no-audit --no-fund`;
        if (/^npm init -y$/.test(command)) started = performance.now();
        const t = performance.now();
        const result = spawnSync('bash', ['-c', run], { cwd, env, encoding: 'utf8', timeout: 300_000 });
        const took = performance.now() - t;
        assert.equal(result.status, 0, `${where}\nexit ${result.status}\n${result.stdout}\n${result.stderr}`);
        const out = result.stdout;
        if (/^npm install\b/.test(command)) timings['npm install'] = (timings['npm install'] ?? 0) + took;
        if (command === 'npx tsc') timings['npx tsc'] = took;

        const publish = /^npx tsx publish\.ts (\S+)/.exec(command);
        if (publish !== null) {
          const imageId = publish[1] as string;
          assert.match(out, /^published \S+/m, where);
          assert.ok(supervise !== undefined, `${where}: the walkthrough publishes once supervise runs`);
          if (existsSync(join(cwd, 'images', `${imageId}.jpg`))) {
            await supervise.waitFor(handled(imageId), `${imageId} handled`);
            if (firstHandled === undefined) {
              firstHandled = performance.now();
              timings['publish.ts → handled'] = firstHandled - t;
            }
          } else {
            await supervise.waitFor((l) => typeof l.msg === 'string' && l.msg === `message dead-lettered to resize-image.dlq: no image images/${imageId}.jpg`, `${imageId} dead-lettered`);
          }
        }
        if (/^npx rabbit-worker status$/.test(command)) assert.equal(out.split('\n').filter((l) => /^resize-image\s+resize-image_0[12]\s+RUNNING\s/.test(l)).length, 2, `${where}\n${out}`);
        if (/^npx rabbit-worker dlq list resize-image$/.test(command)) assert.match(out, /no image images\/dog\.jpg/, `${where}\n${out}`);
        if (/^npx rabbit-worker dlq replay resize-image$/.test(command)) {
          assert.match(out, /replayed 1 message\(s\) to "resize-image"/, `${where}\n${out}`);
          await (supervise as Supervise).waitFor(handled('dog'), 'dog handled after the replay');
        }
        if (/^ls thumbnails$/.test(command)) {
          const expected = ['cat-160x120.jpg', ...(existsSync(join(cwd, 'images', 'dog.jpg')) ? ['dog-160x120.jpg'] : [])];
          assert.deepEqual(out.split('\n').filter(Boolean), expected, where);
        }
        console.log(`# ${command} (${(took / 1000).toFixed(1)} s)${out.trim() === '' || /^npm /.test(command) ? '' : `\n${out.trimEnd().replace(/^/gm, '#   ')}`}`);
      }
    }

    // the walkthrough did what the cookbook says it does
    assert.deepEqual(files, ['tsconfig.json', 'queues.ts', 'workers/resize-image.ts', 'rabbit-worker.config.yaml', 'publish.ts']);
    assert.ok(commands >= 14, `${commands} shell commands run`);
    assert.ok(started !== undefined && firstHandled !== undefined && supervise !== undefined);
    const total = firstHandled - started;
    const parts = Object.entries(timings).map(([what, ms]) => `${what} ${(ms / 1000).toFixed(1)} s`).join(', ');
    console.log(`# cookbook: npm init -y → first handled message in ${(total / 1000).toFixed(1)} s (${parts}; TypeScript ${readFileSync(join(cwd, 'node_modules/typescript/package.json'), 'utf8').match(/"version":\s*"([^"]+)"/)?.[1]})`);

    // Ctrl-C in the supervisor's terminal: SIGINT to its process group; the workers finish and it exits 0
    const pids = supervise.pids();
    assert.equal(pids.length, 3, 'the supervisor and its 2 processes');
    process.kill(-(supervise.child.pid as number), 'SIGINT');
    await supervise.waitFor((l) => typeof l.msg === 'string' && /^stopped 2 process\(es\) in \d+ ms$/.test(l.msg), 'stopped 2 process(es)', 60_000);
    const deadline = Date.now() + 30_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(pids.filter(alive), [], 'nothing left running after Ctrl-C');
  });
});
