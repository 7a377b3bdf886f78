/**
 * The cache's bookkeeping: one manifest per worker file names its compiled output and every input that went
 * into it (the local files esbuild read, and the package.json / tsconfig.json files that decide how they
 * compile), each with the SHA-256 of its content. A start reads the manifest and hashes the inputs again —
 * a few small files, well under a millisecond — and reuses the output when nothing changed.
 *
 * Several processes may compile the same worker at once (a supervisor starting four children): every file
 * is written to a temporary name and renamed into place, so a reader sees an old file or a new one, never
 * half of one. An output is named after the hash of its inputs: two compiles of the same sources write the
 * same bytes under the same name, and an output a running process still imports is never rewritten.
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { ModuleFormat } from './package-scope.js';

/** One input of a compiled worker and the hash of its content when it was compiled. */
export interface ManifestInput {
  /** Absolute path. */
  path: string;
  sha256: string;
}

export interface Manifest {
  /** The source worker file, absolute. */
  source: string;
  /** What compiled it (compiler version, options): a different one makes the manifest stale. */
  tool: string;
  format: ModuleFormat;
  /** File name of the compiled output, in the cache folder. */
  output: string;
  inputs: ManifestInput[];
}

/** Outputs of a worker older than this, and no longer named by its manifest, are deleted after a compile. */
const PRUNE_AFTER_MS = 60_000;

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** The SHA-256 of a file's content, or undefined when it cannot be read (deleted, moved). */
export function hashFile(path: string): string | undefined {
  try {
    return sha256(readFileSync(path));
  } catch {
    return undefined;
  }
}

/** `resize-image-3f2a9c01b7e4`: readable in a listing, unique per absolute path. */
export function cacheStem(source: string): string {
  const name = basename(source, extname(source)).replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40);
  return `${name}-${sha256(source).slice(0, 12)}`;
}

export function manifestPath(cacheDir: string, source: string): string {
  return join(cacheDir, `${cacheStem(source)}.json`);
}

/** The output's file name: the stem, then a hash of the tool and of every input's content. */
export function outputName(source: string, tool: string, format: ModuleFormat, inputs: ManifestInput[]): string {
  const key = sha256(JSON.stringify([tool, ...inputs.map((i) => [i.path, i.sha256])])).slice(0, 16);
  return `${cacheStem(source)}-${key}.${format === 'esm' ? 'mjs' : 'cjs'}`;
}

/**
 * The manifest of `source` when it is still true: same tool, every input unchanged, output readable.
 * Undefined otherwise (never written, stale, unreadable): the caller compiles.
 */
export function freshManifest(cacheDir: string, source: string, tool: string): Manifest | undefined {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath(cacheDir, source), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
  if (manifest.source !== source || manifest.tool !== tool || !Array.isArray(manifest.inputs) || typeof manifest.output !== 'string') return undefined;
  for (const input of manifest.inputs) if (hashFile(input.path) !== input.sha256) return undefined;
  try {
    // readable by us, not merely present: a cache warmed by another user may hold files we cannot open
    accessSync(join(cacheDir, manifest.output), constants.R_OK);
    return manifest;
  } catch {
    return undefined;
  }
}

/**
 * Writes `data` to `path` through a temporary file in the same folder and a rename, which replaces the
 * target in one step; `mode` is applied before the rename, so the file is never visible more widely.
 */
export function writeAtomic(path: string, data: string, mode = 0o644): void {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, data, { mode });
    chmodSync(temp, mode); // the umask narrowed it, perhaps: the mode is the sources', on purpose
    renameSync(temp, path);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // never written
    }
    throw error;
  }
}

/**
 * The mode of a compiled file: never readable by more people than its least readable input (a worker kept
 * 0600 because it holds something private stays 0600 in the cache).
 */
export function modeOf(inputs: ManifestInput[]): number {
  let mode = 0o666;
  for (const input of inputs) {
    try {
      mode &= statSync(input.path).mode;
    } catch {
      // hashed a moment ago; gone now — the next start compiles again anyway
    }
  }
  return mode & 0o666;
}

/** Deletes the outputs of `source` that its manifest no longer names, once they are old enough to be unused. */
export function pruneOutputs(cacheDir: string, source: string, keep: string, now = Date.now()): void {
  const stem = `${cacheStem(source)}-`;
  for (const name of readdirSync(cacheDir)) {
    if (!name.startsWith(stem) || name === keep || name.endsWith('.json')) continue;
    const path = join(cacheDir, name);
    try {
      if (now - statSync(path).mtimeMs > PRUNE_AFTER_MS) unlinkSync(path);
    } catch {
      // another process pruned it first
    }
  }
}
