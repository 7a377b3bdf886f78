import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The code blocks of the documentation (README.md and docs/*.md), read as a user copies them.
 *
 * The rules a page follows so that its blocks can be checked (docs-compile.test.ts) and run
 * (cookbook.test.ts):
 * - A ts/js/json block whose first line is `// <path>` (a yaml block: `# <path>`) is the file at that path,
 *   relative to the project the page builds; text after the path (`// tracing.mjs (npm install …)`) is a
 *   comment. `// <path>, continued` adds the block to the end of that file, as "add this to queues.ts" would.
 *   A path named twice in one page without `, continued` is an error: a reader would not know which to keep.
 * - A block without a path is a file of its own (`_block-<line>.ts`) at the project's root.
 * - `<!-- snippet: fragment -->` right before a block: part of something (a method, an output), not checked.
 *   `<!-- snippet: esm -->`: checked in an ES-module app only (top-level await, `import.meta`).
 */
export interface DocBlock {
  /** The page, relative to the repository: `README.md`, `docs/cookbook.md`. */
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's language, lower case: `ts`, `js`, `yaml`, `sh`, … (`typescript` is read as `ts`). */
  lang: string;
  /** The block's lines, fences excluded, with a final newline. */
  text: string;
  /** The marker right before the block, if any. */
  marker?: SnippetMarker;
  /** The file the block is, from its first line. */
  path?: string;
  /** `// <path>, continued`: appended to that file. */
  continued: boolean;
}

export const SNIPPET_MARKERS = ['fragment', 'esm'] as const;
export type SnippetMarker = (typeof SNIPPET_MARKERS)[number];

/** Languages whose blocks are compiled (ts) or loaded by Node (js). */
export const TS_LANGS = new Set(['ts']);
export const JS_LANGS = new Set(['js']);

const FENCE = /^```\s*([\w+-]*)\s*$/;
const MARKER = /^<!--\s*snippet:\s*([\w-]+)\s*-->\s*$/;
const FILE = String.raw`((?:[\w.-]+/)*[\w.-]+\.(?:ts|mts|cts|js|mjs|cjs|json|ya?ml))`;
const SLASH_PATH = new RegExp(String.raw`^//\s+${FILE}(,\s*continued)?(?:\s.*)?$`);
const HASH_PATH = new RegExp(String.raw`^#\s+${FILE}(,\s*continued)?(?:\s.*)?$`);

/** The pages whose blocks are checked: README.md, then docs/*.md in name order. */
export function docPages(root: string): string[] {
  const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort();
  return ['README.md', ...docs.map((f) => `docs/${f}`)];
}

/** Every fenced block of one page, with its marker and file path. Throws on an unknown marker or an unclosed fence. */
export function parseBlocks(page: string, markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] ?? '');
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    if (i >= lines.length) throw new Error(`${page}:${start + 1}: code block never closed`);
    const lang = (open[1] ?? '').toLowerCase() === 'typescript' ? 'ts' : (open[1] ?? '').toLowerCase();
    const block: DocBlock = { page, line: start + 1, lang, text: `${body.join('\n')}\n`, continued: false };
    const marker = markerBefore(lines, start);
    if (marker !== undefined) {
      if (!(SNIPPET_MARKERS as readonly string[]).includes(marker)) throw new Error(`${page}:${start}: unknown snippet marker "${marker}" (known: ${SNIPPET_MARKERS.join(', ')})`);
      block.marker = marker as SnippetMarker;
    }
    const first = body[0] ?? '';
    const named = (lang === 'yaml' || lang === 'yml' ? HASH_PATH : SLASH_PATH).exec(first);
    if (named !== null && named[1] !== undefined) {
      block.path = named[1];
      block.continued = named[2] !== undefined;
    }
    blocks.push(block);
  }
  return blocks;
}

/** The marker on the line before the fence (blank lines between are allowed). */
function markerBefore(lines: string[], fence: number): string | undefined {
  for (let j = fence - 1; j >= 0; j--) {
    const text = lines[j] ?? '';
    if (text.trim() === '') continue;
    return MARKER.exec(text)?.[1];
  }
  return undefined;
}

/** Reads and parses one page. */
export function readBlocks(root: string, page: string): DocBlock[] {
  return parseBlocks(page, readFileSync(join(root, page), 'utf8'));
}

/** One file of a page's project: its text and which block each of its lines came from. */
export interface ProjectFile {
  path: string;
  text: string;
  /** In file order: the block that starts at `fromLine` (1-based) of the file. */
  segments: Array<{ fromLine: number; block: DocBlock }>;
}

/**
 * The files a page's blocks make, in page order. `accept` picks the blocks (by language, marker, …).
 * Anonymous blocks get `_block-<line>.<ext>`; a `continued` block is appended to its file.
 */
export function projectFiles(blocks: DocBlock[], accept: (block: DocBlock) => boolean, extension: (block: DocBlock) => string): Map<string, ProjectFile> {
  const files = new Map<string, ProjectFile>();
  for (const block of blocks) {
    if (!accept(block)) continue;
    const path = block.path ?? `_block-${block.line}.${extension(block)}`;
    const existing = files.get(path);
    if (existing !== undefined && !block.continued) {
      throw new Error(`${block.page}:${block.line}: ${path} was already written at line ${existing.segments[0]?.block.line ?? '?'}; write "// ${path}, continued" to add to it`);
    }
    if (existing === undefined && block.continued) throw new Error(`${block.page}:${block.line}: "${path}, continued" but no earlier block is ${path}`);
    if (existing === undefined) {
      files.set(path, { path, text: block.text, segments: [{ fromLine: 1, block }] });
    } else {
      const fromLine = existing.text.split('\n').length;
      existing.text += block.text;
      existing.segments.push({ fromLine, block });
    }
  }
  return files;
}

/** Where line `line` (1-based) of a project file comes from in the markdown. */
export function sourceLine(file: ProjectFile, line: number): { page: string; line: number } {
  let segment = file.segments[0];
  for (const s of file.segments) if (s.fromLine <= line) segment = s;
  if (segment === undefined) return { page: '?', line };
  // the fence is on segment.block.line; the block's first line is the one after it
  return { page: segment.block.page, line: segment.block.line + (line - segment.fromLine) + 1 };
}

/** A command of a shell block, with its 1-based line in the page. */
export interface ShellCommand {
  line: number;
  command: string;
}

/**
 * The commands of a `sh` block: comments stripped (a `#` that starts a word outside quotes), blank lines
 * skipped, lines ending with `\` joined.
 */
export function shellCommands(block: DocBlock): ShellCommand[] {
  const out: ShellCommand[] = [];
  const lines = block.text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = block.line + i + 1;
    let text = stripComment(lines[i] ?? '');
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1)} ${stripComment(lines[++i] ?? '').trim()}`;
    if (text.trim() !== '') out.push({ line, command: text.trim() });
  }
  return out;
}

function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) return line.slice(0, i).trimEnd();
  }
  return line;
}
