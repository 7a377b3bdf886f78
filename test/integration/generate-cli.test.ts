import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { cli, fixture } from '../helpers/process.js';

/** The generators as a user runs them: effective stop waits, and secrets kept out of what they print. */
describe('supervisord-conf and systemd-unit from the command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rw-gen-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'rabbit-worker.config.yaml'),
    stringify({ url: 'amqp://app:s3cret@10.0.0.1:5672', workers: { long: { file: fixture('long-stop-worker.ts'), processes: 2 } } }),
  );

  it("supervisord: stopwaitsecs covers the worker's own stopTimeout; the password is only in the 0600 --secrets-file", async () => {
    const env = join(dir, 'etc', 'supervisord.env');
    const p = cli(['supervisord-conf', dir, '--secrets-file', env]);
    assert.equal((await p.exit(60_000)).code, 0, p.stderr);
    assert.match(p.stdout, /^stopwaitsecs=55$/m, 'stopTimeout 45 set in initialize() + 10');
    assert.match(p.stdout, /^environment=.*AMQP_URL="%\(ENV_RABBIT_WORKER_LONG_AMQP_URL\)s"/m);
    assert.doesNotMatch(p.stdout + p.stderr, /s3cret/);
    assert.match(p.stderr, /the secrets \(RABBIT_WORKER_LONG_AMQP_URL\) are in .*supervisord\.env \(mode 0600\)/);
    assert.equal(readFileSync(env, 'utf8'), 'RABBIT_WORKER_LONG_AMQP_URL="amqp://app:s3cret@10.0.0.1:5672"\n');
    assert.equal(statSync(env).mode & 0o777, 0o600);
  });

  it('systemd: TimeoutStopSec likewise; the URL goes to EnvironmentFile=, written 0600 beside the units with --out', async () => {
    const out = join(dir, 'units');
    const p = cli(['systemd-unit', dir, '--out', out]);
    assert.equal((await p.exit(60_000)).code, 0, p.stderr);
    const unit = readFileSync(join(out, 'rabbit-worker-long@.service'), 'utf8');
    assert.match(unit, /^TimeoutStopSec=55$/m);
    assert.match(unit, /^EnvironmentFile=\/etc\/rabbit-worker\/rabbit-worker-long\.env$/m);
    assert.doesNotMatch(unit, /s3cret/);
    const secrets = join(out, 'rabbit-worker-long.env');
    assert.equal(statSync(secrets).mode & 0o777, 0o600);
    assert.match(readFileSync(secrets, 'utf8'), /^AMQP_URL="amqp:\/\/app:s3cret@10\.0\.0\.1:5672"$/m);
    assert.doesNotMatch(p.stdout, /s3cret/);
  });
});
