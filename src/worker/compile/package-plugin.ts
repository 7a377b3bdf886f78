/**
 * An esbuild plugin that keeps packages out of the bundle (as `packages: 'external'` does) while making
 * sure that each import still reaches, from the cache folder, the very copy of the package it reached from
 * its source file. The cache lives in the app's `node_modules/.cache/`, so a bare `import 'pino'` left as it
 * is resolves from there to the app's `node_modules/pino`: the common case, kept bare. When it would not —
 * a self-reference (a worker inside the package it imports, as the examples and the benchmarks of
 * rabbit-worker are), or a local file in another tree with a `node_modules` of its own — the import is
 * rewritten to the absolute file that esbuild resolves from the source, with Node's conditions.
 */
import { isBuiltin } from 'node:module';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ImportKind, OnResolveArgs, OnResolveResult, Plugin, PluginBuild } from 'esbuild';
import { isBareSpecifier, packageLocation, packageNameOf, type ModuleFormat } from './package-scope.js';

/** Marks the nested `build.resolve()` calls, which must take esbuild's own path, not this plugin's. */
const NESTED = Symbol('rabbit-worker nested resolve');

export interface PackagePluginOptions {
  format: ModuleFormat;
  /** Folder of the compiled file: static and dynamic `import`s resolve from there at run time. */
  cacheDir: string;
  /** The source worker file: the bundle's `require` is `createRequire(file)`, so `require()`s resolve from its folder. */
  entry: string;
}

/** Whether an import of this kind is a `require()` once emitted (CommonJS output turns static imports into requires). */
function emittedAsRequire(kind: ImportKind, format: ModuleFormat): boolean {
  return kind === 'require-call' || kind === 'require-resolve' || (format === 'cjs' && kind === 'import-statement');
}

async function resolveFromSource(build: PluginBuild, args: OnResolveArgs, kind: ImportKind): Promise<string | undefined> {
  const result = await build.resolve(args.path, { kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: NESTED });
  return result.errors.length > 0 || result.external ? undefined : result.path;
}

/** An external import of the absolute file `path`, written as a `require()` takes it or as an `import` does. */
function externalFile(path: string, asRequire: boolean): OnResolveResult {
  return { path: asRequire ? path : pathToFileURL(path).href, external: true };
}

export function packagePlugin(options: PackagePluginOptions): Plugin {
  return {
    name: 'rabbit-worker-packages',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === NESTED) return undefined;
        const asRequire = emittedAsRequire(args.kind, options.format);
        // the resolution Node would do for the emitted form: `require` conditions for a require()
        const kind: ImportKind = asRequire && args.kind === 'import-statement' ? 'require-call' : args.kind;
        if (args.path.startsWith('#')) {
          // package.json "imports": a local file is bundled; a package it maps to stays outside, by its path
          const path = await resolveFromSource(build, args, kind);
          return path?.includes('/node_modules/') === true ? externalFile(path, asRequire) : undefined;
        }
        if (!isBareSpecifier(args.path)) return undefined; // node:, file:, data: — esbuild knows them
        if (isBuiltin(args.path)) return { path: args.path, external: true }; // `events` is Node's, even when a package of that name is installed
        const name = packageNameOf(args.path);
        const fromSource = packageLocation(name, args.resolveDir);
        if (fromSource === undefined) {
          // not installed here: a tsconfig `paths` alias is bundled like any local file; a missing package is
          // left for Node to report at run time, as it would without us (or never, behind a try/catch)
          const path = await resolveFromSource(build, args, kind);
          return path !== undefined && !path.includes('/node_modules/') ? undefined : { path: args.path, external: true };
        }
        const runtimeDir = asRequire ? dirname(options.entry) : options.cacheDir;
        if (packageLocation(name, runtimeDir) === fromSource) return { path: args.path, external: true };
        const path = await resolveFromSource(build, args, kind);
        return path === undefined ? { path: args.path, external: true } : externalFile(path, asRequire);
      });
    },
  };
}
