/**
 * What Node.js decides from package.json files: the module format of a file, and where a bare import
 * (`pino`, `@scope/pkg/sub`) is found from a directory. The compiler uses them to keep every file's
 * semantics as tsx gives them today, and to check that an import written in the source resolves to the same
 * package from the cache folder.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';

/** The module format a compiled worker is emitted in. */
export type ModuleFormat = 'esm' | 'cjs';

interface PackageScope {
  /** The folder that holds the package.json. */
  dir: string;
  name: string | undefined;
  type: string | undefined;
  hasExports: boolean;
}

// Read once per compile (a compile asks the same folders many times); each compile starts afresh.
const scopes = new Map<string, PackageScope | null>();

function readScope(dir: string): PackageScope | null {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return null;
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; type?: unknown; exports?: unknown };
    return {
      dir,
      name: typeof json.name === 'string' ? json.name : undefined,
      type: typeof json.type === 'string' ? json.type : undefined,
      hasExports: json.exports !== undefined,
    };
  } catch {
    // Node fails on a broken package.json when it needs it; for us it only means "no scope known"
    return null;
  }
}

/**
 * The package scope of `dir`: the nearest package.json at or above it. As in Node's resolver, the search
 * stops at a `node_modules` folder: a file in `node_modules/.cache/…` belongs to no package.
 */
export function packageScope(dir: string): PackageScope | undefined {
  for (let current = dir; ; current = dirname(current)) {
    if (basename(current) === 'node_modules') return undefined;
    let scope = scopes.get(current);
    if (scope === undefined) {
      scope = readScope(current);
      scopes.set(current, scope);
    }
    if (scope !== null) return scope;
    if (dirname(current) === current) return undefined;
  }
}

/** Forgets the package.json files read so far: they may have changed since (a supervisor lives long). */
export function forgetPackageScopes(): void {
  scopes.clear();
}

/**
 * The format Node.js (and tsx) give `file`: `.mts`/`.mjs` are ES modules, `.cts`/`.cjs` CommonJS, and
 * `.ts`/`.tsx`/`.js`/`.jsx` follow the `"type"` of their package.json (CommonJS when there is none).
 */
export function moduleFormatOf(file: string): ModuleFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.mts' || ext === '.mjs') return 'esm';
  if (ext === '.cts' || ext === '.cjs') return 'cjs';
  return packageScope(dirname(file))?.type === 'module' ? 'esm' : 'cjs';
}

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`. */
export function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** True for `pkg`, `@scope/pkg/x`: not relative, not absolute, no URL scheme (`node:`, `file:`, `data:`). */
export function isBareSpecifier(specifier: string): boolean {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('#')) return false;
  return !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(specifier);
}

/**
 * Which copy of package `name` an import from `dir` reaches, as Node looks for it: the enclosing package
 * itself when it is named so and has `exports` (a self-reference), else the nearest `node_modules/<name>`
 * going up. Undefined when there is none (a tsconfig `paths` alias, or a package not installed).
 */
export function packageLocation(name: string, dir: string): string | undefined {
  const scope = packageScope(dir);
  if (scope !== undefined && scope.name === name && scope.hasExports) return `self:${scope.dir}`;
  for (let current = dir; ; current = dirname(current)) {
    // Node never looks in node_modules/node_modules
    if (basename(current) !== 'node_modules') {
      const candidate = join(current, 'node_modules', name);
      if (existsSync(candidate)) return candidate;
    }
    if (dirname(current) === current) return undefined;
  }
}
