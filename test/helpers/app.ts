import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './process.js';

export const npm = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** `npm pack` of this checkout into `dir`; returns the tarball's absolute path. */
export function packTarball(dir: string): string {
  return join(dir, npm(['pack', '--silent', '--pack-destination', dir], ROOT).trim().split('\n').pop() as string);
}

/**
 * What a user has after `npm init -y && npm install rabbit-worker`: an empty CommonJS app with the packed
 * tarball of this checkout installed (its bin in node_modules/.bin), and the `extra` packages in the same
 * install (from npm's cache when it has them). Remove it with `rmSync(dir, …)`.
 */
export function installedApp(prefix = 'rw-app-', extra: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    const tarball = packTarball(dir);
    npm(['init', '-y'], dir);
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, ...extra], dir);
    return dir;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The app's own `rabbit-worker` bin. */
export const appBin = (dir: string): string => join(dir, 'node_modules/.bin/rabbit-worker');
