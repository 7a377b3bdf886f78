import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, describe, it } from 'node:test';
import { tokenFile } from '../../src/supervisor/control-token.js';
import type { SupervisorStatus } from '../../src/supervisor/supervisor.js';
import { closeConnection, declareQueue, deleteQueues, eventually, uniqueQueue } from '../helpers/broker.js';
import { BIN, cli, fixture, type Proc } from '../helpers/process.js';
import { freePort, killEverything, startSupervisor, SupConfig } from '../helpers/sup-harness.js';

/** A request with a raw Host header (fetch forbids setting it), through node:http. */
async function raw(port: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: { host: `127.0.0.1:${port}`, ...init.headers }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const json = { 'content-type': 'application/json' };

describe('the closed control plane: token, Host, read-only, another local user', () => {
  const queue = uniqueQueue('ops-control');
  const sups: Proc[] = [];
  const configs: SupConfig[] = [];

  after(async () => {
    for (const sup of sups) await killEverything(sup);
    configs.forEach((c) => c.remove());
    await deleteQueues(queue);
    await closeConnection();
  });

  async function start(control: Record<string, unknown> = {}): Promise<{ port: number; config: SupConfig; sup: Proc }> {
    const port = await freePort();
    const config = new SupConfig({ workers: { ctl: { file: fixture('behave-worker.ts'), processes: 1, env: { QUEUE: queue } } }, control: { port, ...control } });
    configs.push(config);
    const sup = startSupervisor(config);
    sups.push(sup);
    await sup.waitFor((l) => l.msg === 'ctl_01 running', 60_000, 'ctl_01 running');
    return { port, config, sup };
  }

  it('refuses everything but probes and metrics without the token, a wrong token, a foreign Host; the CLI finds the token', { timeout: 180_000 }, async () => {
    await declareQueue(queue);
    const { port, config, sup } = await start();
    const token = config.token();
    assert.ok(token !== undefined && token.length >= 32, 'a generated token in the file');

    // the file: the owner's only, in a directory of its own
    const file = tokenFile('127.0.0.1', port, config.env);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(dirname(file)).mode & 0o777, 0o700);
    assert.ok(!sup.stdout.includes(token) && !sup.stderr.includes(token), 'the token is never logged');

    for (const path of ['/healthz', '/readyz', '/metrics']) assert.equal((await raw(port, path)).status, 200, `${path} is open`);
    const none = await raw(port, '/status');
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    assert.equal((await raw(port, '/api/state')).status, 401);
    assert.equal((await raw(port, '/scale', { method: 'POST', headers: json, body: '{"type":"ctl","n":3}' })).status, 401);
    assert.equal((await raw(port, '/status', { headers: { authorization: 'Bearer not-the-token' } })).status, 401);
    assert.equal((await raw(port, '/status', { headers: { authorization: `Bearer ${token}x` } })).status, 401);
    const ok = await raw(port, '/status', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    assert.equal((JSON.parse(ok.body) as SupervisorStatus).processes[0]?.name, 'ctl_01');
    // headers of every answer
    assert.match(String(ok.headers['content-security-policy']), /frame-ancestors 'none'/);
    assert.equal(ok.headers['x-content-type-options'], 'nosniff');
    assert.equal(ok.headers['referrer-policy'], 'no-referrer');

    // DNS rebinding: the right token does not help under a foreign name, and nothing is served
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1:${port + 1}`]) {
      const foreign = await raw(port, '/status', { headers: { host, authorization: `Bearer ${token}` } });
      assert.equal(foreign.status, 403, `Host ${host}`);
      assert.equal((await raw(port, '/metrics', { headers: { host } })).status, 403);
    }
    assert.equal((await raw(port, '/healthz', { headers: { host: `localhost:${port}` } })).status, 200);
    // writes: JSON only, and never from another origin
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await raw(port, '/scale', { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: '{"type":"ctl","n":1}' })).status, 415);
    assert.equal((await raw(port, '/scale', { method: 'POST', headers: { ...auth, ...json, origin: 'http://evil.example' }, body: '{"type":"ctl","n":1}' })).status, 403);

    // the CLI finds the token by itself (same user, same environment)
    const status = cli(['status', config.path], config.env);
    assert.equal((await status.exit(30_000)).code, 0, status.stderr);
    assert.match(status.stdout, /ctl_01/);
    const wrong = cli(['status', config.path], { ...config.env, RABBIT_WORKER_TOKEN: 'wrong-token-wrong-token' });
    assert.notEqual((await wrong.exit(30_000)).code, 0);
    assert.match(wrong.stderr, /wrong token/);

    // the one-time login link: a session cookie (HttpOnly, SameSite=Strict), then the link is spent
    const dash = cli(['dashboard', config.path], config.env);
    assert.equal((await dash.exit(30_000)).code, 0, dash.stderr);
    const link = new URL(dash.stdout.trim());
    const login = await raw(port, `${link.pathname}${link.search}`);
    assert.equal(login.status, 302);
    assert.equal(login.headers.location, '/');
    const cookie = String(login.headers['set-cookie']);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const session = cookie.split(';')[0] ?? '';
    assert.equal((await raw(port, '/api/state', { headers: { cookie: session } })).status, 200);
    assert.equal((await raw(port, `${link.pathname}${link.search}`)).status, 401, 'a login link works once');
    assert.equal((await raw(port, '/api/login-tokens', { method: 'POST', headers: { cookie: session, ...json }, body: '{}' })).status, 403, 'a session cannot mint login links');

    // another local user: cannot read the token file, cannot scale (neither by hand nor with the CLI)
    if (existsSync('/usr/sbin/runuser') && process.getuid?.() === 0) {
      const read = spawnSync('runuser', ['-u', 'nobody', '--', 'cat', file], { encoding: 'utf8' });
      assert.notEqual(read.status, 0, 'nobody cannot read the token file');
      assert.ok(!read.stdout.includes(token));
      const curl = spawnSync('runuser', ['-u', 'nobody', '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', '-H', 'content-type: application/json', '-d', '{"type":"ctl","n":4}', `http://127.0.0.1:${port}/scale`], { encoding: 'utf8' });
      assert.equal(curl.stdout, '401', 'nobody cannot scale');
      const nobodyCli = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, BIN, 'scale', 'ctl', '4', '--port', String(port)], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent' } });
      assert.notEqual(nobodyCli.status, 0);
      assert.match(nobodyCli.stderr, /refused: no token found/);
    } else console.log('runuser or root missing: the other-user checks were not run');
    const after = JSON.parse((await raw(port, '/status', { headers: auth })).body) as SupervisorStatus;
    assert.equal(after.types[0]?.desired, 1, 'nothing scaled it');
  });

  it('control.readOnly: reads work, every write is 403, and the page is told', { timeout: 120_000 }, async () => {
    const { port, config } = await start({ readOnly: true, allowedHosts: ['dash.example'] });
    const auth = { authorization: `Bearer ${config.token() ?? ''}` };
    assert.equal((await raw(port, '/status', { headers: auth })).status, 200);
    for (const [path, body] of [['/scale', '{"type":"ctl","n":2}'], ['/reload', '{}'], ['/api/scale', '{"type":"ctl","n":2}'], ['/api/reload', '{}'], [`/api/dead-letters/${queue}/purge`, JSON.stringify({ confirm: queue })]] as const) {
      const answer = await raw(port, path, { method: 'POST', headers: { ...auth, ...json }, body });
      assert.equal(answer.status, 403, path);
      assert.match(answer.body, /read-only/);
    }
    const state = await eventually(async () => {
      const answer = await raw(port, '/api/state', { headers: { ...auth, host: 'dash.example' } });
      return answer.status === 200 ? (JSON.parse(answer.body) as { readOnly: boolean }) : undefined;
    }, 10_000, 'the state under an allowed host name');
    assert.equal(state.readOnly, true);
    const scale = cli(['scale', 'ctl', '2', config.path], config.env);
    assert.notEqual((await scale.exit(30_000)).code, 0);
    assert.match(scale.stderr, /read-only/);
  });
});
