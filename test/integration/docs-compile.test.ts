import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseConfig } from '../../src/supervisor/config.js';
import { appBin, installedApp } from '../helpers/app.js';
import { docPages, projectFiles, readBlocks, shellCommands, sourceLine, TS_LANGS, JS_LANGS, type DocBlock, type ProjectFile } from '../helpers/doc-blocks.js';
import { ROOT } from '../helpers/process.js';

const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
/** What the pages' blocks import besides rabbit-worker and node: installed in the apps, as the pages tell users to. */
const PACKAGES = ['zod', '@opentelemetry/api', '@opentelemetry/sdk-trace-node', '@types/node@20'];
/** Blocks that are fragments on purpose; a page should prefer complete blocks, so this stays small. */
const MAX_FRAGMENTS = 6;

const pages = docPages(ROOT).map((page) => ({ page, slug: page.replace(/^docs\//, '').replace(/\.md$/, '').toLowerCase(), blocks: readBlocks(ROOT, page) }));
const allBlocks = pages.flatMap((p) => p.blocks);
const at = (b: DocBlock): string => `${b.page}:${b.line}`;

/** The pages' projects in one app: `<app>/pages/<slug>/<file>`; returns every written file by its app-relative path. */
function writeProjects(app: string, esm: boolean): Map<string, ProjectFile> {
  const written = new Map<string, ProjectFile>();
  for (const { slug, blocks } of pages) {
    const accept = (b: DocBlock): boolean => (TS_LANGS.has(b.lang) || JS_LANGS.has(b.lang)) && b.marker !== 'fragment' && (esm || b.marker !== 'esm');
    for (const file of projectFiles(blocks, accept, (b) => (TS_LANGS.has(b.lang) ? 'ts' : 'mjs')).values()) {
      const path = join('pages', slug, file.path);
      mkdirSync(dirname(join(app, path)), { recursive: true });
      writeFileSync(join(app, path), file.text);
      written.set(path, file);
    }
  }
  return written;
}

/** `tsc -p <app>` with the repository's TypeScript; errors mapped back to the markdown. */
function typeCheck(app: string, files: Map<string, ProjectFile>): string[] {
  const result = spawnSync(process.execPath, [TSC, '-p', join(app, 'tsconfig.json'), '--listFiles'], { cwd: app, encoding: 'utf8', timeout: 180_000 });
  // a tsconfig that left the blocks out would pass: every block's file must be in the program
  const listed = new Set(result.stdout.split('\n').map((l) => l.trim()));
  const missing = [...files.keys()].filter((f) => f.endsWith('.ts') && !listed.has(join(app, f)));
  assert.deepEqual(missing, [], 'every TypeScript block is in the program tsc checked');
  const errors = [...result.stdout.matchAll(/^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/gm)].map((m) => {
    const file = files.get(m[1] as string);
    const where = file === undefined ? `${m[1]}:${m[2]}` : ((s) => `${s.page}:${s.line}`)(sourceLine(file, Number(m[2])));
    return `${where}: ${m[4]} ${m[5]}`;
  });
  if (result.status !== 0 && errors.length === 0) errors.push(`tsc exited ${result.status}: ${result.stdout}${result.stderr}`);
  return errors;
}

/** GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function headingSlugs(markdown: string): Set<string> {
  const slugs = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (heading === null) continue;
    const base = (heading[1] as string).trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    slugs.add(n === 0 ? base : `${base}-${n}`);
  }
  return slugs;
}

describe('docs: every code block of README.md and docs/*.md compiles, loads or validates', () => {
  let cjs: string;
  let esm: string;
  let cjsFiles: Map<string, ProjectFile>;
  let esmFiles: Map<string, ProjectFile>;

  before(() => {
    cjs = installedApp('rw-docs-cjs-', PACKAGES);
    esm = mkdtempSync(join(tmpdir(), 'rw-docs-esm-'));
    writeFileSync(join(esm, 'package.json'), JSON.stringify({ name: 'esm-app', version: '1.0.0', type: 'module' }));
    symlinkSync(join(cjs, 'node_modules'), join(esm, 'node_modules'), 'dir');
    // the tsconfig the cookbook documents is the apps' tsconfig
    const tsconfig = allBlocks.filter((b) => b.page === 'docs/cookbook.md' && b.path === 'tsconfig.json');
    assert.equal(tsconfig.length, 1, 'docs/cookbook.md shows one "// tsconfig.json" block');
    for (const app of [cjs, esm]) writeFileSync(join(app, 'tsconfig.json'), tsconfig[0]?.text ?? '');
    cjsFiles = writeProjects(cjs, false);
    esmFiles = writeProjects(esm, true);
  });
  after(() => {
    if (esm !== undefined) rmSync(esm, { recursive: true, force: true });
    if (cjs !== undefined) rmSync(cjs, { recursive: true, force: true });
  });

  it('finds the blocks: TypeScript in README and the cookbook, few fragments, markers only where they mean something', () => {
    const ts = allBlocks.filter((b) => TS_LANGS.has(b.lang));
    const fragments = allBlocks.filter((b) => b.marker === 'fragment');
    console.log(`# ${allBlocks.length} blocks in ${pages.length} pages: ${ts.length} TypeScript, ${allBlocks.filter((b) => JS_LANGS.has(b.lang)).length} JavaScript, ${allBlocks.filter((b) => b.lang === 'yaml').length} YAML; ${fragments.length} fragment(s): ${fragments.map(at).join(', ')}`);
    assert.ok(ts.some((b) => b.page === 'README.md'), 'README.md has TypeScript blocks');
    assert.ok(ts.filter((b) => b.page === 'docs/cookbook.md').length >= 5, 'the cookbook has its TypeScript blocks');
    assert.ok(fragments.length <= MAX_FRAGMENTS, `at most ${MAX_FRAGMENTS} fragments (prefer complete blocks): ${fragments.map(at).join(', ')}`);
    // a language the checks below would ignore, under a name they know, would go unchecked silently
    const unknown = allBlocks.filter((b) => ['typescript', 'javascript', 'tsx', 'mjs', 'cjs', 'yml', 'bash', 'shell', 'console'].includes(b.lang));
    assert.deepEqual(unknown.map(at), [], 'fences use ts, js, yaml, sh (or text for output)');
  });

  it('TypeScript blocks type-check in a CommonJS app (npm init -y) with the documented tsconfig', () => {
    assert.deepEqual(typeCheck(cjs, cjsFiles), []);
  });

  it('TypeScript blocks type-check in an ES-module app ("type": "module") with the same tsconfig', () => {
    assert.deepEqual(typeCheck(esm, esmFiles), []);
  });

  it('JavaScript blocks load in both apps (node imports them)', () => {
    const js = [...cjsFiles.entries()].filter(([path]) => /\.(mjs|cjs|js)$/.test(path));
    assert.ok(js.length > 0, 'the pages have JavaScript blocks');
    for (const app of [cjs, esm]) {
      for (const [path, file] of js) {
        const result = spawnSync(process.execPath, ['--import', `./${path}`, '-e', ''], { cwd: app, encoding: 'utf8', timeout: 60_000 });
        assert.equal(result.status, 0, `${at(file.segments[0]?.block as DocBlock)} (${path}) does not load in ${app === cjs ? 'the CommonJS' : 'the ES-module'} app:\n${result.stderr}`);
      }
    }
  });

  it('YAML blocks are valid config files (parseConfig, as rabbit-worker supervise reads them)', () => {
    const yaml = allBlocks.filter((b) => b.lang === 'yaml' && b.marker !== 'fragment');
    assert.ok(yaml.length >= 3);
    const dir = mkdtempSync(join(tmpdir(), 'rw-docs-yaml-'));
    try {
      const problems: string[] = [];
      for (const block of yaml) {
        const raw = parse(block.text) as { workers?: Record<string, { file?: unknown }> } | null;
        // parseConfig checks that worker files exist: give it the files the block names
        for (const entry of Object.values(raw?.workers ?? {})) {
          if (typeof entry?.file !== 'string') continue;
          mkdirSync(dirname(join(dir, entry.file)), { recursive: true });
          writeFileSync(join(dir, entry.file), '');
        }
        try {
          parseConfig(raw, join(dir, 'rabbit-worker.config.yaml'));
        } catch (error) {
          problems.push(`${at(block)}: ${(error as Error).message}`);
        }
      }
      assert.deepEqual(problems, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every rabbit-worker command and flag in the shell blocks exists (--help of the installed bin)', () => {
    const bin = appBin(cjs);
    const help = new Map<string, string>();
    const helpOf = (words: string[]): string => {
      const key = words.join(' ');
      let text = help.get(key);
      if (text === undefined) {
        text = execFileSync(bin, [...words, '--help'], { cwd: cjs, encoding: 'utf8' });
        help.set(key, text);
      }
      return text;
    };
    const commands = new Set([...helpOf([]).matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1] as string));
    const problems: string[] = [];
    let checked = 0;
    for (const block of allBlocks.filter((b) => b.lang === 'sh' && b.marker !== 'fragment')) {
      for (const { line, command } of shellCommands(block)) {
        for (const segment of command.split(/\s*(?:&&|\|\||;|\||>)\s*/)) {
          const words = segment.split(/\s+/).map((w) => w.replace(/^\[|\]$/g, ''));
          // the CLI itself: `rabbit-worker`, `npx rabbit-worker`, `exec …`, or a path to its bin (not `npm install rabbit-worker`)
          const at = words.findIndex((w, i) => /(^|\/)rabbit-worker(\.js)?$/.test(w) && (i === 0 || w.includes('/') || ['npx', 'exec'].includes(words[i - 1] ?? '')));
          if (at < 0 || words[at + 1] === undefined || words[at + 1]?.startsWith('-')) continue;
          const name = words[at + 1] as string;
          if (!commands.has(name)) {
            problems.push(`${block.page}:${line}: no command "rabbit-worker ${name}"`);
            continue;
          }
          const path = [name];
          const sub = words[at + 2];
          if (name === 'dlq' && sub !== undefined) path.push(sub);
          const text = helpOf(path);
          for (const flag of words.slice(at + 1).filter((w) => /^--[a-z]/.test(w)).map((w) => w.replace(/=.*$/, ''))) {
            if (!new RegExp(`(^|[\\s,])${flag}(\\s|$|,)`, 'm').test(text)) problems.push(`${block.page}:${line}: rabbit-worker ${path.join(' ')} has no ${flag}`);
          }
          checked++;
        }
      }
    }
    console.log(`# ${checked} rabbit-worker command lines checked against --help`);
    assert.ok(checked >= 20);
    assert.deepEqual(problems, []);
  });

  it('no link to what the npm package does not contain (examples/, test/, bench/, src/), to a missing page or to a missing heading', () => {
    const problems: string[] = [];
    for (const { page } of pages) {
      const text = readFileSync(join(ROOT, page), 'utf8');
      for (const m of text.matchAll(/\]\(([^)#\s]*)(?:#([^)\s]*))?\)/g)) {
        const target = m[1] as string;
        if (/^[a-z]+:/.test(target)) continue;
        const resolved = target === '' ? page : join(dirname(page), target);
        if (/^(examples|test|bench|chaos|src)(\/|$)/.test(resolved)) {
          problems.push(`${page}: link to ${target}, which the npm package does not contain`);
          continue;
        }
        let linked: string;
        try {
          linked = readFileSync(join(ROOT, resolved), 'utf8');
        } catch {
          problems.push(`${page}: link to ${target}, which does not exist`);
          continue;
        }
        const anchor = m[2];
        if (anchor !== undefined && resolved.endsWith('.md') && !headingSlugs(linked).has(anchor)) problems.push(`${page}: link to ${target}#${anchor}: no such heading`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
