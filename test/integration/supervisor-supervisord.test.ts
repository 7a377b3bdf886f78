import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { closeConnection, deleteQueues, depth, eventually, publish, uniqueQueue } from '../helpers/broker.js';
import { cli, fixture } from '../helpers/process.js';
import { freePort, SupConfig } from '../helpers/sup-harness.js';

/** `promise`, or `fallback` after `ms` (the timer does not keep the process alive afterwards). */
async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const hasSupervisord = spawnSync('sh', ['-c', 'command -v supervisord && command -v supervisorctl']).status === 0;

/** supervisord in the foreground; the workers' JSON lines are read from the per-process log files (--log-dir). */
class Supervisord {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output = '';
  constructor(
    readonly conf: string,
    readonly logDir: string,
  ) {
    this.child = spawn('supervisord', ['-n', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }
  /** Every JSON line every worker wrote so far. */
  get lines(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const file of readdirSync(this.logDir)) {
      for (const line of readFileSync(join(this.logDir, file), 'utf8').split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          out.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // a line being written
        }
      }
    }
    return out;
  }
  ctl(...args: string[]): string {
    const r = spawnSync('supervisorctl', ['-c', this.conf, ...args], { encoding: 'utf8', timeout: 120_000 });
    return `${r.stdout}${r.stderr}`;
  }
  /** `svwork:svwork_01` → pid, for the RUNNING ones. */
  pids(): Map<string, number> {
    const out = new Map<string, number>();
    for (const m of this.ctl('status').matchAll(/^(\S+)\s+RUNNING\s+pid (\d+)/gm)) out.set(m[1] ?? '', Number(m[2]));
    return out;
  }
}

describe('generated config under the real supervisord', { skip: hasSupervisord ? false : 'supervisord is not installed (apt-get install supervisor)' }, () => {
  const workQueue = uniqueQueue('sup-sd-work');
  const ttlQueue = uniqueQueue('sup-sd-ttl');
  let config: SupConfig | undefined;
  let sd: Supervisord | undefined;
  const workerPids = new Set<number>();

  after(async () => {
    if (sd !== undefined && sd.child.exitCode === null) {
      sd.child.kill('SIGTERM');
      await within(sd.exited, 30_000, null);
      sd.child.kill('SIGKILL');
    }
    for (const l of sd?.lines ?? []) if (typeof l.pid === 'number') workerPids.add(l.pid);
    for (const pid of workerPids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    config?.remove();
    await deleteQueues(workQueue, ttlQueue);
    await closeConnection();
  });

  it('runs the workers, restarts a TTL exit, and stops them gracefully with supervisorctl', { timeout: 240_000 }, async () => {
    config = new SupConfig({
      workers: {
        svwork: { file: fixture('behave-worker.ts'), processes: 2, prefetch: 2, stopTimeout: 15, env: { QUEUE: workQueue, LOG_FORMAT: 'json' } },
        svttl: { file: fixture('behave-worker.ts'), processes: 1, ttl: 2, env: { QUEUE: ttlQueue, LOG_FORMAT: 'json' } },
      },
      control: { port: await freePort() },
    });
    const logDir = join(config.dir, 'logs');
    mkdirSync(logDir);
    const gen = cli(['supervisord-conf', config.path, '--log-dir', logDir]);
    assert.equal((await gen.exit(30_000)).code, 0, gen.stderr);
    assert.match(gen.stdout, /^stopwaitsecs=25$/m);
    const programs = join(config.dir, 'programs.conf');
    writeFileSync(programs, gen.stdout);
    const conf = join(config.dir, 'supervisord.conf');
    writeFileSync(
      conf,
      [
        '[unix_http_server]',
        `file=${join(config.dir, 'supervisor.sock')}`,
        'chmod=0700',
        '[supervisord]',
        'nodaemon=true',
        `logfile=${join(config.dir, 'supervisord.log')}`,
        `pidfile=${join(config.dir, 'supervisord.pid')}`,
        `childlogdir=${config.dir}`,
        'user=root',
        '[rpcinterface:supervisor]',
        'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
        '[supervisorctl]',
        `serverurl=unix://${join(config.dir, 'supervisor.sock')}`,
        '[include]',
        `files = ${programs}`,
        '',
      ].join('\n'),
    );
    sd = new Supervisord(conf, logDir);
    const s = sd;

    // both svwork processes consume
    const first = await eventually(() => {
      const p = s.pids();
      return p.has('svwork:svwork_01') && p.has('svwork:svwork_02') && s.lines.filter((l) => l.worker === 'svwork' && String(l.msg).startsWith('consuming ')).length >= 2 ? p : undefined;
    }, 90_000, 'svwork_01 and svwork_02 consuming');
    for (let i = 0; i < 20; i++) await publish(workQueue, { do: 'sleep', ms: 50 }, { messageId: `w-${i}` });
    const handled = (): Set<unknown> => new Set(s.lines.filter((l) => l.msg === 'handled' && l.worker === 'svwork').map((l) => l.messageId));
    await eventually(() => handled().size === 20, 60_000, '20 messages handled');
    const consumers = new Set(s.lines.filter((l) => l.msg === 'handled' && l.worker === 'svwork').map((l) => l.pid));
    assert.equal(consumers.size, 2, 'both processes took messages');

    // the TTL exit (exit 0) is restarted: autorestart=true
    const ttlPid = await eventually(() => s.pids().get('svttl:svttl_01'), 60_000, 'svttl running');
    const nextPid = await eventually(() => {
      const pid = s.pids().get('svttl:svttl_01');
      return pid !== undefined && pid !== ttlPid ? pid : undefined;
    }, 60_000, 'svttl restarted with a new pid');
    assert.notEqual(nextPid, ttlPid);
    assert.ok(s.lines.some((l) => l.worker === 'svttl' && l.msg === 'stopped (ttl) after 0 message(s)' && l.exitCode === 0));
    const log = (): string => readFileSync(join(config?.dir ?? '', 'supervisord.log'), 'utf8');
    await eventually(() => /exited: svttl_01 \(exit status 0; expected\)/.test(log()), 30_000, 'supervisord saw exit 0');

    // stop gracefully with callbacks in flight: nothing lost
    for (const pid of first.values()) workerPids.add(pid);
    for (let i = 0; i < 4; i++) await publish(workQueue, { do: 'sleep', ms: 2500 }, { messageId: `slow-${i}` });
    await eventually(() => s.lines.filter((l) => l.msg === 'callback' && String(l.messageId).startsWith('slow-')).length === 4, 30_000, 'slow callbacks running');
    const stopAt = Date.now();
    const out = s.ctl('stop', 'svwork:*');
    const stopMs = Date.now() - stopAt;
    assert.match(out, /svwork:svwork_01: stopped/);
    assert.match(out, /svwork:svwork_02: stopped/);
    console.log(`supervisorctl stop of 2 processes with 2.5 s callbacks in flight: ${stopMs} ms`);
    assert.ok(stopMs < 25_000, 'within stopwaitsecs');
    await eventually(() => (log().match(/stopped: svwork_0[12] \(exit status 0\)/g) ?? []).length === 2, 30_000, 'both svwork exit status 0');
    assert.equal(handled().size, 24, 'every message handled');
    assert.equal(await depth(workQueue), 0);

    s.ctl('stop', 'all');
    s.ctl('shutdown');
    assert.equal(await within(s.exited, 60_000, -1), 0);
  });
});
