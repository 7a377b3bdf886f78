/**
 * Ahead-of-time compilation of a worker file, with a content-hash cache: the first start (or
 * `rabbit-worker prepare`, or the supervisor before it spawns a type's processes) compiles; every later
 * start finds the output, checks that no input changed, and imports plain JavaScript — no loader hooks, no
 * compiler in memory. When the cache cannot be used, the worker loads through tsx as it always did.
 */
import { statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { bundleWorker, compilerIdentity } from './bundle.js';
import { cacheDirFor } from './cache-dir.js';
import { freshManifest, hashFile, manifestPath, modeOf, outputName, pruneOutputs, writeAtomic, type Manifest, type ManifestInput } from './manifest.js';

/** Set to `off` to load every TypeScript worker through tsx, as before the cache existed. */
export const COMPILE_ENV = 'RABBIT_WORKER_COMPILE';

/** Imported as they are: Node runs them without help. */
const PLAIN_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);

/** How a worker file will be imported. */
export type PreparedWorker =
  /** A JavaScript file, imported as it is. */
  | { kind: 'plain'; source: string; url: string }
  /** Compiled into the cache (`cached`: by an earlier start); `url` is the output to import. */
  | { kind: 'compiled'; source: string; url: string; cached: boolean; ms: number; inputs: number }
  /** Loaded through tsx; `failed` when esbuild reported an error, not a deliberate choice. */
  | { kind: 'tsx'; source: string; reason: string; failed: boolean };

function compiled(source: string, dir: string, manifest: Manifest, cached: boolean, started: number): PreparedWorker {
  const url = pathToFileURL(join(dir, manifest.output)).href;
  return { kind: 'compiled', source, url, cached, ms: performance.now() - started, inputs: manifest.inputs.length };
}

/**
 * Makes `file` ready to import: finds its compiled output in the cache or compiles it. Never throws for a
 * reason of the cache or of the compiler; the result then says tsx, and why.
 */
export async function prepareWorker(file: string): Promise<PreparedWorker> {
  const source = resolve(file);
  if (PLAIN_EXTENSIONS.has(extname(source).toLowerCase())) return { kind: 'plain', source, url: pathToFileURL(source).href };
  if (process.env[COMPILE_ENV] === 'off') return { kind: 'tsx', source, reason: `${COMPILE_ENV}=off`, failed: false };
  try {
    return await prepareCompiled(source);
  } catch (error) {
    // not a problem of the worker's code (that is reported as an outcome): the compiler itself is broken or
    // missing; the worker must still start
    return { kind: 'tsx', source, reason: `the compile cache failed: ${error instanceof Error ? error.message : String(error)}`, failed: true };
  }
}

async function prepareCompiled(source: string): Promise<PreparedWorker> {
  const started = performance.now();
  const cache = cacheDirFor(source);
  if ('reason' in cache) return { kind: 'tsx', source, reason: cache.detail, failed: false };
  const tool = compilerIdentity();
  const fresh = freshManifest(cache.dir, source, tool);
  if (fresh !== undefined) return compiled(source, cache.dir, fresh, true, started);

  const buildStarted = Date.now();
  const outcome = await bundleWorker(source, cache.dir);
  if (!outcome.ok) return { kind: 'tsx', source, reason: outcome.reason, failed: outcome.failed };
  const inputs: ManifestInput[] = outcome.inputs.map((path) => ({ path, sha256: hashFile(path) ?? '' }));
  const manifest: Manifest = { source, tool, format: outcome.format, output: outputName(source, tool, outcome.format, inputs), inputs };
  try {
    writeAtomic(join(cache.dir, manifest.output), outcome.code, modeOf(inputs));
    // An input saved while esbuild ran may not be what it read: use this output, but let the next start compile.
    if (!changedSince(inputs, buildStarted)) writeAtomic(manifestPath(cache.dir, source), `${JSON.stringify(manifest, null, 1)}\n`);
  } catch (error) {
    return { kind: 'tsx', source, reason: `cannot write to ${cache.dir} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, failed: false };
  }
  try {
    pruneOutputs(cache.dir, source, manifest.output);
  } catch {
    // pruning is housekeeping
  }
  return compiled(source, cache.dir, manifest, false, started);
}

/** True when an input was unreadable, or written after `since` (its mtime; a save during the compile). */
function changedSince(inputs: ManifestInput[], since: number): boolean {
  return inputs.some((input) => {
    if (input.sha256 === '') return true;
    try {
      return statSync(input.path).mtimeMs >= since;
    } catch {
      return true;
    }
  });
}
