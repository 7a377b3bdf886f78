import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';

/** The environment variable that gives the control token (to the supervisor and to the CLI). */
export const TOKEN_ENV = 'RABBIT_WORKER_TOKEN';

/** A fresh token: 32 random bytes, base64url (43 characters). */
export const newToken = (): string => randomBytes(32).toString('base64url');

/**
 * Where a supervisor's token is kept, readable by its owner only: `$XDG_RUNTIME_DIR/rabbit-worker/` (a
 * per-user tmpfs that systemd creates with mode 0700 and removes at logout) when it is set, else
 * `~/.rabbit-worker/`.
 */
export function tokenDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  return runtime !== undefined && runtime !== '' ? join(runtime, 'rabbit-worker') : join(env.HOME ?? homedir(), '.rabbit-worker');
}

/** The token file of the supervisor listening on `host:port`: one per endpoint, so several supervisors can share a user. */
export function tokenFile(host: string, port: number, env: NodeJS.ProcessEnv = process.env): string {
  return join(tokenDir(env), `control-${host.replace(/[^A-Za-z0-9.-]/g, '_')}-${port}.token`);
}

/**
 * Writes `token` to `path`, mode 0600, in a directory of mode 0700 (created, or tightened when it is ours):
 * written to a temporary file of mode 0600 first and renamed over, so that it is never readable by others,
 * not even for a moment. Refuses a directory that is a symbolic link (someone else could point it anywhere).
 */
export function writeTokenFile(path: string, token: string): void {
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (stat.isSymbolicLink() || !stat.isDirectory()) throw new ConfigError(`${dir} is not a plain directory: the control token is not written there`);
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) throw new ConfigError(`${dir} belongs to another user: the control token is not written there`);
  chmodSync(dir, 0o700);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${token}\n`, { mode: 0o600, flag: 'w' });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

/** The token in `path`, or undefined when there is none (or it cannot be read: another user's). */
export function readTokenFile(path: string): string | undefined {
  try {
    const token = readFileSync(path, 'utf8').trim();
    return token === '' ? undefined : token;
  } catch {
    return undefined;
  }
}

/** Removes `path` if it still holds `token` (another supervisor may have taken the port since). */
export function removeTokenFile(path: string, token: string): void {
  if (readTokenFile(path) === token) rmSync(path, { force: true });
}
