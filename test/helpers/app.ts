import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './process.js';

export const npm = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * What a user has after `npm init -y && npm install rabbit-worker`: an empty CommonJS app with the packed
 * tarball of this checkout installed (its bin in node_modules/.bin). Remove it with `rmSync(dir, …)`.
 */
export function installedApp(prefix = 'rw-app-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    const tarball = npm(['pack', '--silent', '--pack-destination', dir], ROOT).trim().split('\n').pop() as string;
    npm(['init', '-y'], dir);
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)], dir);
    return dir;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The app's own `rabbit-worker` bin. */
export const appBin = (dir: string): string => join(dir, 'node_modules/.bin/rabbit-worker');
