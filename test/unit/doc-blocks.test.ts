import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBlocks, projectFiles, shellCommands, sourceLine, type DocBlock } from '../helpers/doc-blocks.js';

const page = (...lines: string[]): string => lines.join('\n');
const ts = (b: DocBlock): boolean => b.lang === 'ts';

describe('doc blocks: how the docs tests read a page', () => {
  it('reads fences, languages, the file a block names and the marker before it', () => {
    const blocks = parseBlocks('p.md', page(
      '# Title',
      '```ts',
      '// queues.ts',
      'export const a = 1;',
      '```',
      '',
      '<!-- snippet: fragment -->',
      '',
      '```typescript',
      'callback() {}',
      '```',
      '```yaml',
      '# rabbit-worker.config.yaml',
      'workers: {}',
      '```',
      '```js',
      '// tracing.mjs (npm install something)',
      '```',
      '```sh',
      'npx rabbit-worker status',
      '```',
    ));
    assert.deepEqual(blocks.map((b) => [b.line, b.lang, b.path, b.marker, b.continued]), [
      [2, 'ts', 'queues.ts', undefined, false],
      [9, 'ts', undefined, 'fragment', false],
      [12, 'yaml', 'rabbit-worker.config.yaml', undefined, false],
      [16, 'js', 'tracing.mjs', undefined, false],
      [19, 'sh', undefined, undefined, false],
    ]);
    assert.equal(blocks[0]?.text, '// queues.ts\nexport const a = 1;\n');
  });

  it('refuses an unknown marker and an unclosed fence', () => {
    assert.throws(() => parseBlocks('p.md', page('<!-- snippet: fragmnt -->', '```ts', 'x', '```')), /unknown snippet marker "fragmnt"/);
    assert.throws(() => parseBlocks('p.md', page('```ts', 'x')), /p\.md:1: code block never closed/);
  });

  it('", continued" appends to the file, and each line maps back to its line in the page', () => {
    const blocks = parseBlocks('p.md', page(
      '```ts',              // 1
      '// queues.ts',       // 2
      'import x;',          // 3
      '```',                // 4
      'text',               // 5
      '```ts',              // 6
      '// queues.ts, continued',
      'export const b = x;', // 8
      '```',
      '```ts',              // 10
      'anonymous;',         // 11
      '```',
    ));
    const files = projectFiles(blocks, ts, () => 'ts');
    const queues = files.get('queues.ts');
    assert.ok(queues !== undefined);
    assert.equal(queues.text, '// queues.ts\nimport x;\n// queues.ts, continued\nexport const b = x;\n');
    assert.deepEqual(sourceLine(queues, 2), { page: 'p.md', line: 3 });
    assert.deepEqual(sourceLine(queues, 4), { page: 'p.md', line: 8 });
    assert.equal(files.get('_block-10.ts')?.text, 'anonymous;\n');
    assert.deepEqual(sourceLine(files.get('_block-10.ts') as never, 1), { page: 'p.md', line: 11 });
  });

  it('a file named twice without ", continued" (or continued before it exists) is an error naming both lines', () => {
    const twice = parseBlocks('p.md', page('```ts', '// a.ts', '```', '```ts', '// a.ts', '```'));
    assert.throws(() => projectFiles(twice, ts, () => 'ts'), /p\.md:4: a\.ts was already written at line 1; write "\/\/ a\.ts, continued"/);
    const orphan = parseBlocks('p.md', page('```ts', '// a.ts, continued', '```'));
    assert.throws(() => projectFiles(orphan, ts, () => 'ts'), /"a\.ts, continued" but no earlier block is a\.ts/);
  });

  it('shell commands: comments dropped (not inside quotes), continuations joined, lines numbered in the page', () => {
    const [block] = parseBlocks('p.md', page(
      'intro',
      '```sh',
      '# a comment',
      "npx rabbit-worker publish q '{\"a\":\"#1\"}'   # publish",
      '',
      'npx rabbit-worker run w.ts \\',
      '  --prefetch 8',
      'curl -s x | grep y#z',
      '```',
    ));
    assert.ok(block !== undefined);
    assert.deepEqual(shellCommands(block), [
      { line: 4, command: "npx rabbit-worker publish q '{\"a\":\"#1\"}'" },
      { line: 6, command: 'npx rabbit-worker run w.ts  --prefetch 8' },
      { line: 8, command: 'curl -s x | grep y#z' },
    ]);
  });
});
