import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../fixtures/types/', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** `tsc -p` on one fixture (it imports 'rabbit-worker': the built declarations, as an application sees them). */
function compile(project: string): { status: number | null; errors: Array<{ line: number; code: string; text: string }> } {
  const result = spawnSync(process.execPath, [TSC, '-p', `${DIR}${project}`], { encoding: 'utf8', timeout: 120_000 });
  const errors = [...result.stdout.matchAll(/^.*\((\d+),\d+\): error (TS\d+): (.*)$/gm)].map((m) => ({ line: Number(m[1]), code: m[2] as string, text: m[3] as string }));
  return { status: result.status, errors };
}

describe('typed messages at compile time (tsc on fixtures)', () => {
  it('a worker and an application typed from one queue definition (zod, valibot, arktype) compile', () => {
    const { status, errors } = compile('tsconfig.ok.json');
    assert.deepEqual(errors, []);
    assert.equal(status, 0);
  });

  it('a typo in a payload, a wrong field type, a misread reply: each is a compile error on its line', () => {
    const expected = readFileSync(`${DIR}typed-errors.ts`, 'utf8')
      .split('\n')
      .flatMap((text, i) => {
        const marker = /expect-error (TS\d+)/.exec(text);
        return marker === null ? [] : [{ line: i + 1, code: marker[1] as string }];
      });
    assert.equal(expected.length, 5);
    const { status, errors } = compile('tsconfig.errors.json');
    assert.notEqual(status, 0);
    assert.deepEqual(errors.map(({ line, code }) => ({ line, code })), expected);
    // `publish({ widht: 3 })`: the compiler names the field and suggests the right one
    assert.match(errors.find((e) => e.code === 'TS2561')?.text ?? '', /'widht' does not exist .* Did you mean to write 'width'\?/);
  });
});
