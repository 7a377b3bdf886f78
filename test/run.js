// Runs every test file with Node's own runner; tsx compiles the TypeScript tests.
// Usage: node test/run.js [filter]  (a substring of the file paths to keep)
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const filter = process.argv[2] ?? '';
const files = ['test/unit', 'test/integration']
  .flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.test.ts')).map((f) => `${dir}/${f}`))
  .filter((f) => f.includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`no test file matches "${filter}"`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
