/**
 * An esbuild plugin that compiles each local file of a worker on its own before the bundle is made, so
 * that what a file knows about itself stays true once it lives in one file in the cache: `__dirname`,
 * `__filename`, `import.meta.url`, `import.meta.dirname` and `import.meta.filename` are replaced by the
 * values of the *source* file (esbuild's `define`, which leaves a name the file declares itself alone).
 * The per-file build reads the file's tsconfig.json as a build does (decorators, class fields, JSX), and its
 * inline source map is carried into the bundle's map, so stack frames point at the source lines.
 */
import { dirname, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BuildFailure, BuildResult, Plugin } from 'esbuild';

/** Names the messages of the per-file pass: their places are in the source files. */
export const SOURCE_PLUGIN = 'rabbit-worker-source';

/**
 * Files this plugin compiles: JavaScript and TypeScript (packages never get here: they stay outside the
 * bundle). JSON and text keep esbuild's loaders.
 */
const SOURCE_FILTER = /\.(?:[cm]?[jt]s|[jt]sx)$/;

/** The per-file values: the only difference between a file in the bundle and the same file run alone. */
export function sourceDefines(file: string): Record<string, string> {
  const url = pathToFileURL(file).href;
  return {
    __dirname: JSON.stringify(dirname(file)),
    __filename: JSON.stringify(file),
    'import.meta.url': JSON.stringify(url),
    'import.meta.dirname': JSON.stringify(dirname(file)),
    'import.meta.filename': JSON.stringify(file),
  };
}

/**
 * @param esbuild the loaded esbuild module (loaded lazily by the caller: never on a cache hit)
 * @param target the bundle's syntax target, so that both passes agree on what is lowered
 */
export function sourcePlugin(esbuild: typeof import('esbuild'), target: string): Plugin {
  return {
    name: SOURCE_PLUGIN,
    setup(build) {
      build.onLoad({ filter: SOURCE_FILTER }, async (args) => {
        let result: BuildResult<{ write: false }>;
        try {
          result = await esbuild.build({
            entryPoints: [args.path],
            // the folder of the file, so that its map names it by its base name, resolved next to it by the bundle
            absWorkingDir: dirname(args.path),
            bundle: false,
            write: false,
            platform: 'node',
            target,
            define: sourceDefines(args.path),
            sourcemap: 'inline',
            sourcesContent: false,
            logLevel: 'silent',
          });
        } catch (error) {
          // a syntax error: reported with its place in the source file, as the bundle's own error
          const errors = (error as Partial<BuildFailure>).errors;
          const from = build.initialOptions.absWorkingDir ?? process.cwd();
          if (Array.isArray(errors)) return { errors: errors.map((e) => ({ ...e, location: e.location === null ? null : { ...e.location, file: relative(from, args.path) } })) };
          throw error;
        }
        const output = result.outputFiles[0];
        if (output === undefined) return undefined;
        return { contents: output.text, loader: 'js', resolveDir: dirname(args.path), warnings: result.warnings };
      });
    },
  };
}
