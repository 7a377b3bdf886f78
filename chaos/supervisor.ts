import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SupervisorStatus } from '../src/supervisor/supervisor.js';
import type { ChaosType } from './plan.js';

let BIN = fileURLToPath(new URL('../bin/rabbit-worker.js', import.meta.url));
let WORKER_FILE = fileURLToPath(new URL('./workers/chaos-worker.ts', import.meta.url));

/** Runs the CLI and the workers from a snapshot of the package (see snapshot.ts) instead of the tree. */
export function usePackage(paths: { bin: string; workerFile: string }): void {
  BIN = paths.bin;
  WORKER_FILE = paths.workerFile;
}

/** `rabbit-worker supervise` running the chaos types, its output in `logFile`. */
export interface RunningSupervisor {
  child: ChildProcess;
  configPath: string;
  logFile: string;
  exited: Promise<void>;
}

/** A port free right now on loopback, for the control endpoint (tests may run supervisors in parallel). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/**
 * The generated supervisor config: one entry per type, its settings as overrides. memoryLimitMb is small
 * so that a poison message exhausts its isolate quickly; stopTimeout is short so that the final stop is.
 */
export function writeConfig(dir: string, recordsDir: string, types: ChaosType[], url: string, port: number): string {
  const workers: Record<string, unknown> = {};
  for (const type of types) {
    workers[type.name] = {
      file: WORKER_FILE,
      processes: type.processes,
      prefetch: type.prefetch,
      queueType: type.queueType,
      isolation: type.isolation,
      memoryLimitMb: 64,
      stopTimeout: 10,
      env: { CHAOS_QUEUE: type.queue, CHAOS_TYPE: type.name, CHAOS_RECORDS: recordsDir, LOG_LEVEL: 'info' },
    };
  }
  const path = join(dir, 'rabbit-worker.config.json');
  writeFileSync(path, `${JSON.stringify({ url, control: { port }, workers }, null, 2)}\n`);
  return path;
}

export function startSupervisor(configPath: string, dir: string): RunningSupervisor {
  const logFile = join(dir, 'supervisor.log');
  const out = openSync(logFile, 'a');
  // Its own process group: a Ctrl-C reaches the harness, which stops the supervisor in order.
  const child = spawn(process.execPath, [BIN, 'supervise', configPath], {
    cwd: dir,
    env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info' },
    stdio: ['ignore', out, out],
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, configPath, logFile, exited };
}

/** `rabbit-worker status --json <config>`, as an operator would run it; bounded. */
export function status(configPath: string, timeoutMs = 15_000): Promise<SupervisorStatus> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, 'status', '--json', configPath], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`rabbit-worker status: ${(stderr || error.message).trim().split('\n')[0] ?? ''}`));
      else {
        try {
          resolve(JSON.parse(stdout) as SupervisorStatus);
        } catch {
          reject(new Error('rabbit-worker status: not JSON'));
        }
      }
    });
  });
}

/** Waits until every process of every type is `running` (bounded); throws with the last status otherwise. */
export async function waitAllRunning(sup: RunningSupervisor, types: ChaosType[], timeoutMs: number): Promise<void> {
  const want = types.reduce((sum, t) => sum + t.processes, 0);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (sup.child.exitCode !== null || sup.child.signalCode !== null) throw new Error(`the supervisor exited (${sup.child.exitCode ?? sup.child.signalCode}); see ${sup.logFile}`);
    try {
      const s = await status(sup.configPath);
      const running = s.processes.filter((p) => p.state === 'running').length;
      last = s.processes.map((p) => `${p.name}=${p.state}`).join(' ');
      if (running >= want) return;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`the workers did not all start within ${timeoutMs / 1000} s: ${last}; see ${sup.logFile}`);
}

/** Every worker pid the supervisor ever spawned (its `spawned` lines). */
export function spawnedPids(logFile: string): number[] {
  if (!existsSync(logFile)) return [];
  const pids: number[] = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes(' spawned"')) continue;
    try {
      const pid = (JSON.parse(line) as { childPid?: unknown }).childPid;
      if (typeof pid === 'number') pids.push(pid);
    } catch {
      // a child's non-JSON line
    }
  }
  return pids;
}

/**
 * SIGTERM, as an operator would stop it: every worker finishes its messages in flight. Bounded: after
 * `timeoutMs`, SIGKILL to the supervisor and to every worker's process group, so that nothing is left.
 */
export async function stopSupervisor(sup: RunningSupervisor, timeoutMs: number): Promise<'stopped' | 'killed'> {
  let outcome: 'stopped' | 'killed' = 'stopped';
  if (sup.child.exitCode === null && sup.child.signalCode === null) {
    sup.child.kill('SIGTERM');
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
    if ((await Promise.race([sup.exited.then(() => 'exited' as const), timer])) === 'timeout') {
      outcome = 'killed';
      sup.child.kill('SIGKILL');
      await sup.exited;
    }
  }
  for (const pid of spawnedPids(sup.logFile)) {
    try {
      process.kill(-pid, 'SIGKILL'); // each worker leads its own group
      outcome = 'killed';
    } catch {
      // already gone: the normal case
    }
  }
  return outcome;
}
