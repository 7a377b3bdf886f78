import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_CONTROL_PORT, findConfigFile, loadConfig } from '../../src/supervisor/config.js';

const dirs: string[] = [];
function dir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'rw-sup-config-'));
  dirs.push(d);
  writeFileSync(join(d, 'worker.ts'), 'export default class {}\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function configError(d: string, file?: string): Promise<string> {
  try {
    await loadConfig(file, d);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.ok(!error.message.includes('\n'), 'one line');
    return error.message;
  }
  assert.fail('expected the config to be rejected');
}

describe('supervisor config file', () => {
  it('reads YAML from the working directory, resolves the file and splits the run overrides', async () => {
    const d = dir({
      'rabbit-worker.config.yaml': 'workers:\n  resize-image:\n    file: ./worker.ts\n    processes: 2\n    env: { LOG_LEVEL: info, RETRIES: 3 }\n    ttl: 3600\n    prefetch: 10\n    isolation: none\ncontrol:\n  port: 9400\n',
    });
    const config = await loadConfig(undefined, d);
    assert.equal(config.path, join(d, 'rabbit-worker.config.yaml'));
    assert.equal(config.control.port, 9400);
    const [type] = config.workers;
    assert.ok(type);
    assert.equal(type.name, 'resize-image');
    assert.equal(type.file, join(d, 'worker.ts'));
    assert.equal(type.processes, 2);
    assert.deepEqual(type.env, { LOG_LEVEL: 'info', RETRIES: '3' });
    assert.deepEqual(type.overrides, { ttl: 3600, prefetch: 10, isolation: 'none' });
    assert.equal(type.startSeconds, 1);
    assert.equal(type.startRetries, 3);
    assert.equal(type.stopWaitSeconds, 40, 'default stopTimeout 30 + 10 s margin');
  });

  it('reads JSON, a TypeScript default export, and applies defaults', async () => {
    const json = dir({ 'rabbit-worker.config.json': JSON.stringify({ workers: { a: { file: 'worker.ts', stopTimeout: 5 } } }) });
    const fromJson = await loadConfig(undefined, json);
    assert.equal(fromJson.control.port, DEFAULT_CONTROL_PORT);
    assert.equal(fromJson.workers[0]?.processes, 1);
    assert.equal(fromJson.workers[0]?.stopWaitSeconds, 15);

    const ts = dir({ 'rabbit-worker.config.ts': "const port: number = 9401;\nexport default { workers: { b: { file: './worker.ts', processes: 3, maxMessages: 100 } }, control: { port } };\n" });
    const fromTs = await loadConfig(undefined, ts);
    assert.equal(fromTs.control.port, 9401);
    assert.deepEqual(fromTs.workers[0]?.overrides, { maxMessages: 100 });
  });

  it('rejects a bad override with one line naming the field (the worker schema decides)', async () => {
    const d = dir({ 'c.yaml': 'workers:\n  resize:\n    file: ./worker.ts\n    prefetch: 0\n' });
    const message = await configError(d, 'c.yaml');
    assert.match(message, /workers\.resize\.prefetch/);
  });

  it('rejects unknown keys, bad types, missing files and bad names', async () => {
    assert.match(await configError(dir({ 'c.yaml': 'workers:\n  a:\n    file: ./worker.ts\n    ttll: 3\n' }), 'c.yaml'), /unknown setting "ttll"/);
    assert.match(await configError(dir({ 'c.yaml': 'workers:\n  a:\n    file: ./worker.ts\n    isolation: process\n' }), 'c.yaml'), /workers\.a\.isolation/);
    assert.match(await configError(dir({ 'c.yaml': 'workers:\n  a:\n    file: ./nope.ts\n' }), 'c.yaml'), /workers\.a\.file: not found/);
    assert.match(await configError(dir({ 'c.yaml': 'workers:\n  "a b":\n    file: ./worker.ts\n' }), 'c.yaml'), /worker type names/);
    assert.match(await configError(dir({ 'c.yaml': 'workers:\n  a:\n    file: ./worker.ts\n    processes: -1\n' }), 'c.yaml'), /workers\.a\.processes/);
    assert.match(await configError(dir({ 'c.yaml': 'workers: {}\ncontrol:\n  port: 70000\n' }), 'c.yaml'), /control\.port/);
    assert.match(await configError(dir({ 'c.yaml': 'workers:\n  a:\n    file: ./worker.ts\n    ttl: 2\n    startSeconds: 5\n' }), 'c.yaml'), /startSeconds \(5\) must not exceed its ttl/);
    assert.match(await configError(dir({ 'c.yaml': 'workers: [\n' }), 'c.yaml'), /c\.yaml/);
  });

  it('says where it looked when there is no config file', () => {
    const d = dir({});
    assert.throws(() => findConfigFile(undefined, d), (error: unknown) => error instanceof ConfigError && /no config file in/.test(error.message));
    assert.throws(() => findConfigFile('missing.yaml', d), /config file not found/);
  });
});
