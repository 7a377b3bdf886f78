import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { readTokenFile, tokenFile } from '../../src/supervisor/control-token.js';
import { cli, type LogLine, type Proc } from './process.js';

/** A port free right now on 127.0.0.1, for a supervisor's control endpoint. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Configs by control port, so that the control helpers find the token of the supervisor on a port. */
const byPort = new Map<number, SupConfig>();

/**
 * A temp directory with a rabbit-worker.config.yaml; `rewrite` changes it (for reloads). Its supervisor
 * keeps its token file in the directory (`XDG_RUNTIME_DIR` of {@link SupConfig.env}): give that env to the
 * CLI commands that talk to it.
 */
export class SupConfig {
  readonly dir = mkdtempSync(join(tmpdir(), 'rw-sup-'));
  readonly path = join(this.dir, 'rabbit-worker.config.yaml');
  /** The environment under which the supervisor writes, and the CLI finds, the token file. */
  readonly env: Record<string, string> = { XDG_RUNTIME_DIR: join(this.dir, 'run') };
  constructor(public value: { workers: Record<string, Record<string, unknown>>; control: Record<string, unknown> & { port: number }; [key: string]: unknown }) {
    byPort.set(value.control.port, this);
    this.write();
  }
  /** The token the supervisor wrote (undefined until it started). */
  token(): string | undefined {
    return readTokenFile(tokenFile(String(this.value.control.host ?? '127.0.0.1'), this.value.control.port, this.env));
  }
  write(): void {
    writeFileSync(this.path, stringify(this.value));
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `rabbit-worker supervise <config>`; its lines include every child's lines, tagged with `proc`. */
export function startSupervisor(config: SupConfig, env: Record<string, string> = {}): Proc {
  return cli(['supervise', config.path], { LOG_LEVEL: 'info', ...config.env, ...env }, { cwd: config.dir });
}

export const byMsg = (msg: string) => (l: LogLine) => l.msg === msg;
export const ofProc = (proc: string, msg: string | RegExp) => (l: LogLine) =>
  l.proc === proc && typeof l.msg === 'string' && (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg));

/** pids of every child the supervisor spawned (from its `spawned` lines). */
export function childPids(sup: Proc): number[] {
  return sup.lines.filter((l) => typeof l.msg === 'string' && l.msg.endsWith(' spawned') && typeof l.childPid === 'number').map((l) => l.childPid as number);
}

/** Leaves nothing behind: SIGKILL to the supervisor and to every child's process group. */
export async function killEverything(sup: Proc | undefined): Promise<void> {
  if (sup === undefined) return;
  if (sup.child.exitCode === null && sup.child.signalCode === null) sup.kill('SIGKILL');
  for (const pid of childPids(sup)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await sup.exit(10_000).catch(() => {});
}

/** Messages the worker says it handled (`handled` lines), by messageId. */
export function handledCounts(sup: Proc): Map<string, number> {
  const counts = new Map<string, number>();
  for (const l of sup.lines) if (l.msg === 'handled' && typeof l.messageId === 'string') counts.set(l.messageId, (counts.get(l.messageId) ?? 0) + 1);
  return counts;
}

/** The Authorization header of the supervisor started with the config whose control port is `port`. */
export function authHeader(port: number): Record<string, string> {
  const token = byPort.get(port)?.token();
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

export async function controlGet<T>(port: number, path = '/status'): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: authHeader(port), signal: AbortSignal.timeout(10_000) });
  return (await response.json()) as T;
}

export async function controlPost<T>(port: number, path: string, body: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeader(port) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: (await response.json()) as T };
}
