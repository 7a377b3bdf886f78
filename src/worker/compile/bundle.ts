/**
 * Compiles a worker file and its local imports into one plain JavaScript file with esbuild, packages left
 * outside. The output keeps the format tsx would give the file (CommonJS for a `.ts` in a CommonJS app, an
 * ES module in a `"type": "module"` app), so that imports of CommonJS packages interoperate exactly as they
 * did; it carries an inline source map, and its `require` is `createRequire(<source file>)`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BuildFailure, Message } from 'esbuild';
import { packagePlugin } from './package-plugin.js';
import { forgetPackageScopes, moduleFormatOf, type ModuleFormat } from './package-scope.js';
import { SOURCE_PLUGIN, sourcePlugin } from './source-plugin.js';

/** Raised when what this module emits changes, so that older cached outputs are not reused. */
const COMPILE_SCHEME = 1;

/** The syntax of the Node.js that runs the worker: nothing it supports is lowered. */
const TARGET = `node${process.versions.node.split('.').slice(0, 2).join('.')}`;

/**
 * Left as they are in the output, these would resolve from the cache folder instead of the source file
 * (a relative `import(name)`), so a worker that has one is loaded through tsx instead.
 */
const UNSUPPORTED = ['unsupported-dynamic-import', 'unsupported-require-call'];

/** Files that decide how a source compiles (module type, tsconfig options): inputs too. */
const CONFIG_FILES = ['package.json', 'tsconfig.json', 'jsconfig.json'];

export type BundleOutcome =
  | { ok: true; code: string; format: ModuleFormat; inputs: string[] }
  /** `failed`: esbuild reported an error (a syntax error, an unresolved local file); else a deliberate refusal. */
  | { ok: false; reason: string; failed: boolean };

const require = createRequire(import.meta.url);
let esbuildVersion: string | undefined;

/**
 * What compiles, as a string stored in each manifest: the esbuild version, the target and this module's
 * scheme. Read without loading esbuild itself, which a cache hit never does.
 */
export function compilerIdentity(): string {
  esbuildVersion ??= (JSON.parse(readFileSync(require.resolve('esbuild/package.json'), 'utf8')) as { version: string }).version;
  return `esbuild ${esbuildVersion}; ${TARGET}; scheme ${COMPILE_SCHEME}`;
}

/** `require` for the bundle's code: the source file's, so that `require.resolve('./x')` means what it did. */
function banner(format: ModuleFormat, source: string): string {
  if (format === 'esm') return `import { createRequire as __rwCreateRequire } from "node:module"; const require = __rwCreateRequire(${JSON.stringify(pathToFileURL(source).href)});`;
  return `require = require("node:module").createRequire(${JSON.stringify(source)});`;
}

/** The nearest package.json, tsconfig.json and jsconfig.json above each input. */
function configInputs(inputs: string[]): string[] {
  const found = new Set<string>();
  for (const dir of new Set(inputs.map((input) => dirname(input)))) {
    for (const name of CONFIG_FILES) {
      for (let current = dir; ; current = dirname(current)) {
        const candidate = join(current, name);
        if (found.has(candidate)) break;
        if (existsSync(candidate)) {
          found.add(candidate);
          break;
        }
        if (dirname(current) === current) break;
      }
    }
  }
  return [...found];
}

/**
 * One line for a message of esbuild. Those of the per-file pass have their place in the source file; those
 * of the bundle are placed in the file's compiled form, so the line's code names the place instead.
 */
function describe(message: Message): string {
  const location = message.location;
  if (location === null) return message.text;
  if (message.pluginName === SOURCE_PLUGIN) return `${location.file}:${location.line}:${location.column + 1}: ${message.text}`;
  return `${location.file}: ${message.text}: ${location.lineText.trim()}`;
}

// The esbuild service (a child process) is stopped when no compile of this thread needs it any more.
let running = 0;

/**
 * Bundles `source` for the cache folder `cacheDir`. Never throws for a problem of the worker's code: the
 * outcome says why it could not be compiled, and the caller falls back to tsx.
 */
export async function bundleWorker(source: string, cacheDir: string): Promise<BundleOutcome> {
  const esbuild = await import('esbuild');
  forgetPackageScopes(); // package.json files read by an earlier compile of this process may have changed
  const format = moduleFormatOf(source);
  const workDir = dirname(source);
  running++;
  try {
    const result = await esbuild.build({
      entryPoints: [source],
      absWorkingDir: workDir,
      bundle: true,
      write: false,
      // the bundle's map names the sources relative to where the output will be
      outfile: join(cacheDir, `worker.${format === 'esm' ? 'mjs' : 'cjs'}`),
      platform: 'node',
      format,
      target: TARGET,
      // Node's resolution, not a bundler's: no "module" condition, no "module" main field
      conditions: [],
      mainFields: ['main'],
      sourcemap: 'inline',
      sourcesContent: false,
      keepNames: true,
      metafile: true,
      banner: { js: banner(format, source) },
      logLevel: 'silent',
      logOverride: Object.fromEntries(UNSUPPORTED.map((id) => [id, 'warning'])),
      plugins: [packagePlugin({ format, cacheDir, entry: source }), sourcePlugin(esbuild, TARGET)],
    });
    const unsupported = result.warnings.find((w) => UNSUPPORTED.includes(w.id));
    if (unsupported !== undefined) return { ok: false, reason: describe(unsupported), failed: false };
    const output = result.outputFiles[0];
    if (output === undefined) return { ok: false, reason: 'esbuild produced no output', failed: true };
    const inputs = Object.keys(result.metafile.inputs).map((input) => resolve(workDir, input));
    return { ok: true, code: output.text, format, inputs: [...inputs, ...configInputs(inputs)] };
  } catch (error) {
    const errors = (error as Partial<BuildFailure>).errors;
    const first = Array.isArray(errors) ? errors[0] : undefined;
    return { ok: false, reason: first !== undefined ? describe(first) : String((error as Error).message ?? error), failed: true };
  } finally {
    running--;
    if (running === 0) await esbuild.stop();
  }
}
