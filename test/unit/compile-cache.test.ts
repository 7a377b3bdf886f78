import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { prepareWorker, type PreparedWorker } from '../../src/worker/compile/prepare-worker.js';

const PREPARE_MODULE = fileURLToPath(new URL('../../src/worker/compile/prepare-worker.ts', import.meta.url));
const CACHE = join('node_modules', '.cache', 'rabbit-worker');

const roots: string[] = [];
after(() => roots.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A temp app: package.json of the given type, a fake package or two in node_modules, and `files`. */
function makeApp(type: 'commonjs' | 'module', files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'rw-compile-'));
  roots.push(dir);
  const write = (path: string, text: string): void => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  write('package.json', JSON.stringify({ name: 'app', version: '1.0.0', type }));
  // a CommonJS package compiled from TypeScript: `default` behind __esModule, as many packages ship
  write('node_modules/cjs-pkg/package.json', JSON.stringify({ name: 'cjs-pkg', main: 'index.js' }));
  write('node_modules/cjs-pkg/index.js', 'Object.defineProperty(exports, "__esModule", { value: true });\nexports.default = function cjsDefault() { return "cjs default"; };\nexports.marker = "CJS_PKG_BODY";\n');
  write('node_modules/esm-pkg/package.json', JSON.stringify({ name: 'esm-pkg', type: 'module', exports: './index.js' }));
  write('node_modules/esm-pkg/index.js', 'export const shout = (s) => s.toUpperCase() + "!"; export const marker = "ESM_PKG_BODY";\n');
  for (const [path, text] of Object.entries(files)) write(path, text);
  return dir;
}

function compiledOf(prepared: PreparedWorker): Extract<PreparedWorker, { kind: 'compiled' }> {
  assert.equal(prepared.kind, 'compiled', JSON.stringify(prepared));
  return prepared as Extract<PreparedWorker, { kind: 'compiled' }>;
}

/** Imports a compiled output in a plain node (no tsx), with source maps on, and prints what `probe` returns. */
function runOutput(url: string, probe: string): Record<string, unknown> {
  const script = `process.setSourceMapsEnabled(true); const m = await import(${JSON.stringify(url)}); const W = m.default?.default ?? m.default; ${probe}`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 })) as Record<string, unknown>;
}

const HELPER = `export function twice(n: number): number {
  return n * 2;
}
export const helperFile = __filename;
export const helperUrl = import.meta.url;
`;

const WORKER = `import { twice, helperFile, helperUrl } from './lib/helper';
import cjsDefault from 'cjs-pkg';
import { shout } from 'esm-pkg';

export default class Worker {
  static where = { dirname: __dirname, filename: __filename, url: import.meta.url, metaDirname: import.meta.dirname, metaFilename: import.meta.filename, helperFile, helperUrl };
  static values = { twice: twice(21), cjs: typeof cjsDefault === 'function' ? cjsDefault() : typeof cjsDefault, shout: shout('hi') };
  callback(): void {
    throw new Error('boom');
  }
}
`;

describe('compile cache: prepareWorker', () => {
  it('compiles a TypeScript worker once, then reuses the output while no input changed', async () => {
    const app = makeApp('commonjs', { 'worker.ts': WORKER, 'lib/helper.ts': HELPER });
    const first = compiledOf(await prepareWorker(join(app, 'worker.ts')));
    assert.equal(first.cached, false);
    assert.ok(first.url.includes(`/${CACHE}/`), first.url);
    const second = compiledOf(await prepareWorker(join(app, 'worker.ts')));
    assert.equal(second.cached, true, 'nothing changed: a cache hit');
    assert.equal(second.url, first.url);
    assert.equal(first.inputs, 3, 'worker.ts, lib/helper.ts and package.json');
  });

  it('compiles again when a local import changes', async () => {
    const app = makeApp('commonjs', { 'worker.ts': WORKER, 'lib/helper.ts': HELPER });
    const first = compiledOf(await prepareWorker(join(app, 'worker.ts')));
    writeFileSync(join(app, 'lib/helper.ts'), HELPER.replace('n * 2', 'n * 3'));
    const second = compiledOf(await prepareWorker(join(app, 'worker.ts')));
    assert.equal(second.cached, false, 'an edited helper is a cache miss');
    assert.notEqual(second.url, first.url);
    assert.equal(runOutput(second.url, 'console.log(JSON.stringify(W.values))').twice, 63);
    assert.equal(compiledOf(await prepareWorker(join(app, 'worker.ts'))).cached, true);
  });

  it('keeps packages out of the bundle: imported from node_modules at run time', async () => {
    const app = makeApp('commonjs', { 'worker.ts': WORKER, 'lib/helper.ts': HELPER });
    const { url } = compiledOf(await prepareWorker(join(app, 'worker.ts')));
    const code = readFileSync(fileURLToPath(url), 'utf8');
    assert.match(code, /require\("cjs-pkg"\)/);
    assert.match(code, /require\("esm-pkg"\)/);
    assert.doesNotMatch(code, /CJS_PKG_BODY|ESM_PKG_BODY/);
    assert.match(code, /function twice/, 'a local import is in the bundle');
  });

  for (const type of ['commonjs', 'module'] as const) {
    it(`in a "type": "${type}" app: __dirname, __filename and import.meta name the source files, packages interoperate as tsx does`, async () => {
      const app = makeApp(type, { 'workers/worker.ts': WORKER.replace('./lib/helper', '../lib/helper'), 'lib/helper.ts': HELPER });
      const { url } = compiledOf(await prepareWorker(join(app, 'workers/worker.ts')));
      assert.ok(url.endsWith(type === 'module' ? '.mjs' : '.cjs'), url);
      const result = runOutput(url, 'console.log(JSON.stringify({ ...W.where, ...W.values }))');
      const worker = join(app, 'workers/worker.ts');
      assert.deepEqual(
        { dirname: result.dirname, filename: result.filename, url: result.url, metaDirname: result.metaDirname, metaFilename: result.metaFilename },
        { dirname: join(app, 'workers'), filename: worker, url: `file://${worker}`, metaDirname: join(app, 'workers'), metaFilename: worker },
      );
      assert.equal(result.helperFile, join(app, 'lib/helper.ts'), 'each file has its own __filename');
      assert.equal(result.helperUrl, `file://${join(app, 'lib/helper.ts')}`);
      assert.equal(result.twice, 42);
      assert.equal(result.shout, 'HI!', 'an ESM-only package, from either format');
      // A CommonJS app gets the __esModule default (TypeScript's and tsx's reading); an ES module app gets
      // module.exports, as Node gives an ES module.
      assert.equal(result.cjs, type === 'commonjs' ? 'cjs default' : 'object');
    });
  }

  it('require() works in a CommonJS-style TypeScript file, and module.exports is the default export', async () => {
    const app = makeApp('commonjs', {
      'worker.ts': `const pkg = require('cjs-pkg');\nconst { join } = require('node:path');\nclass Worker { static marker = pkg.marker; static path = join('a', 'b'); static resolved = require.resolve('./data.json'); }\nmodule.exports = Worker;\n`,
      'data.json': '{}',
    });
    const { url } = compiledOf(await prepareWorker(join(app, 'worker.ts')));
    const result = runOutput(url, 'console.log(JSON.stringify({ marker: W.marker, path: W.path, resolved: W.resolved }))');
    assert.deepEqual(result, { marker: 'CJS_PKG_BODY', path: 'a/b', resolved: join(app, 'data.json') });
  });

  it('an error thrown in the compiled code has frames that name the .ts line, in both formats', async () => {
    for (const type of ['commonjs', 'module'] as const) {
      const app = makeApp(type, { 'worker.ts': WORKER, 'lib/helper.ts': HELPER });
      const { url } = compiledOf(await prepareWorker(join(app, 'worker.ts')));
      const { stack } = runOutput(url, 'try { new W().callback(); } catch (e) { console.log(JSON.stringify({ stack: e.stack })); }');
      // line 9, column 11 of WORKER: `throw new Error('boom')`
      assert.match(String(stack), new RegExp(`at Worker\\.callback \\(${join(app, 'worker.ts').replace(/[/.]/g, '\\$&')}:9:11\\)`), String(stack));
      assert.doesNotMatch(String(stack), /data:text\/javascript|\.cache/);
    }
  });

  it('writes the output no more readable than its sources', async () => {
    const app = makeApp('commonjs', { 'worker.ts': WORKER, 'lib/helper.ts': HELPER });
    chmodSync(join(app, 'lib/helper.ts'), 0o600);
    const { url } = compiledOf(await prepareWorker(join(app, 'worker.ts')));
    assert.equal(statSync(fileURLToPath(url)).mode & 0o777, 0o600);
  });

  it('imports a package by its own name from inside that package (a self-reference) through its absolute path', async () => {
    const app = makeApp('module', { 'worker.ts': `import { marker } from 'app';\nexport default class W { static marker = marker; }\n`, 'index.js': 'export const marker = "SELF";\n' });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module', exports: './index.js' }));
    const { url } = compiledOf(await prepareWorker(join(app, 'worker.ts')));
    assert.match(readFileSync(fileURLToPath(url), 'utf8'), new RegExp(`from "file://${join(app, 'index.js').replace(/[/.]/g, '\\$&')}"`));
    assert.equal(runOutput(url, 'console.log(JSON.stringify({ marker: W.marker }))').marker, 'SELF');
  });

  it('imports JavaScript workers as they are, and falls back to tsx where it must', async () => {
    const app = makeApp('commonjs', { 'worker.js': 'module.exports = class W {};\n', 'dynamic.ts': 'export default class W { load(name: string) { return import(name); } }\n', 'broken.ts': 'export default class {\n' });
    const plain = await prepareWorker(join(app, 'worker.js'));
    assert.deepEqual(plain, { kind: 'plain', source: join(app, 'worker.js'), url: `file://${join(app, 'worker.js')}` });
    const dynamic = await prepareWorker(join(app, 'dynamic.ts'));
    assert.equal(dynamic.kind, 'tsx');
    assert.match((dynamic as { reason: string }).reason, /^dynamic\.ts: This "import" expression will not be bundled .*: .*return import\(name\)/);
    const broken = await prepareWorker(join(app, 'broken.ts'));
    assert.equal(broken.kind, 'tsx');
    assert.equal((broken as { failed: boolean }).failed, true, 'a syntax error is a failure, reported as a warning');
    assert.match((broken as { reason: string }).reason, /^broken\.ts:2:1: /, 'placed in the source file');

    const bare = mkdtempSync(join(tmpdir(), 'rw-compile-bare-'));
    roots.push(bare);
    writeFileSync(join(bare, 'worker.ts'), 'export default class W {}\n');
    const noCache = await prepareWorker(join(bare, 'worker.ts'));
    assert.equal(noCache.kind, 'tsx');
    assert.match((noCache as { reason: string }).reason, /no node_modules folder above/);

    // a cache folder that cannot be made (here a file stands where it would go; elsewhere a read-only image)
    const blocked = makeApp('commonjs', { 'worker.ts': 'export default class W {}\n', 'node_modules/.cache': 'not a folder' });
    const unusable = await prepareWorker(join(blocked, 'worker.ts'));
    assert.equal(unusable.kind, 'tsx');
    assert.match((unusable as { reason: string }).reason, /cannot use .*\.cache\/rabbit-worker \(ENOTDIR\)/);

    process.env.RABBIT_WORKER_COMPILE = 'off';
    try {
      assert.deepEqual(await prepareWorker(join(app, 'worker.ts')).then((p) => p.kind), 'tsx');
    } finally {
      delete process.env.RABBIT_WORKER_COMPILE;
    }
  });

  it('concurrent compiles of the same worker (four processes at once) leave one valid output', async () => {
    const app = makeApp('commonjs', { 'worker.ts': WORKER, 'lib/helper.ts': HELPER });
    const go = join(app, 'go');
    // each process loads the compiler, says ready, and waits for the go file: the four compiles overlap
    const script = `const { prepareWorker } = await import(${JSON.stringify(PREPARE_MODULE)});
const { existsSync } = await import('node:fs');
console.log('ready');
while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 5));
console.log(JSON.stringify(await prepareWorker(${JSON.stringify(join(app, 'worker.ts'))})));`;
    const children = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      const ready = new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => ((out += chunk.toString()), out.includes('ready') && resolve())));
      const done = new Promise<PreparedWorker>((resolve, reject) =>
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as PreparedWorker) : reject(new Error(`exit ${code}: ${out}`)))),
      );
      return { ready, done };
    });
    await Promise.all(children.map((c) => c.ready));
    writeFileSync(go, '');
    const results = (await Promise.all(children.map((c) => c.done))).map(compiledOf);
    assert.equal(new Set(results.map((r) => r.url)).size, 1, 'every process names the same output');
    const files = readdirSync(join(app, CACHE));
    assert.equal(files.filter((f) => f.endsWith('.cjs')).length, 1, files.join(', '));
    assert.equal(files.filter((f) => f.endsWith('.tmp')).length, 0, 'no temporary file left');
    assert.equal(runOutput(results[0]?.url ?? '', 'console.log(JSON.stringify(W.values))').twice, 42);
    assert.equal(compiledOf(await prepareWorker(join(app, 'worker.ts'))).cached, true, 'the manifest they left is valid');
    assert.ok(existsSync(fileURLToPath(results[0]?.url ?? '')));
  });
});
