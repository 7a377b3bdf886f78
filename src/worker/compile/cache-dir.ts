/**
 * Where compiled workers are kept: `node_modules/.cache/rabbit-worker/` of the nearest `node_modules` above
 * the worker file, the folder that tools such as Babel and ESLint use for theirs. Inside the app, so that a
 * bare `import 'pino'` in the compiled file finds the app's packages the way the source file did.
 */
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The sub-folder of `node_modules` that holds the cache. */
export const CACHE_SUBDIR = join('.cache', 'rabbit-worker');

/** Why there is no cache for a file: the worker then loads through tsx, as before. */
export type NoCacheReason = 'no-node-modules' | 'not-writable';

export type CacheDirResult = { dir: string } | { reason: NoCacheReason; detail: string };

/** The nearest `node_modules` folder at or above `dir` (never one inside another node_modules' package). */
export function nearestNodeModules(dir: string): string | undefined {
  for (let current = dir; ; current = dirname(current)) {
    if (basename(current) !== 'node_modules') {
      const candidate = join(current, 'node_modules');
      if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    }
    if (dirname(current) === current) return undefined;
  }
}

/**
 * The cache folder for a worker file, created if needed. Never throws: a missing `node_modules`, or one
 * where the folder cannot be made (a read-only image, another user's install), is a reason to fall back, not
 * an error. A folder that exists but is read-only is returned: a cache warmed by `rabbit-worker prepare` at
 * deploy time is still read; only a compile needs to write.
 */
export function cacheDirFor(file: string): CacheDirResult {
  const nodeModules = nearestNodeModules(dirname(file));
  if (nodeModules === undefined) return { reason: 'no-node-modules', detail: `no node_modules folder above ${dirname(file)}` };
  const dir = join(nodeModules, CACHE_SUBDIR);
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.R_OK | constants.X_OK);
    return { dir };
  } catch (error) {
    return { reason: 'not-writable', detail: `cannot use ${dir} (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
  }
}
