import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig, type SupervisorConfig } from '../../src/supervisor/config.js';
import { envFileText, isSecret, writeSecretFile } from '../../src/supervisor/secrets.js';
import { formatEnvironment, quoteArg, supervisordConf, supervisordSecrets } from '../../src/supervisor/supervisord.js';
import { systemdArg, systemdUnits } from '../../src/supervisor/systemd.js';

const dir = mkdtempSync(join(tmpdir(), 'rw sup gen '));
writeFileSync(join(dir, 'resize.ts'), 'export default class {}\n');
after(() => rmSync(dir, { recursive: true, force: true }));

function config(workers: Record<string, unknown>): SupervisorConfig {
  return parseConfig({ workers, url: 'amqp://u:p%40ss@10.0.0.1:5672,amqp://u:p%40ss@10.0.0.2:5672' }, join(dir, 'rabbit-worker.config.yaml'));
}

/** `key=value` lines of one [program:…] block. */
function program(text: string, name: string): Map<string, string> {
  const block = text.split(/^(?=\[program:)/m).find((b) => b.startsWith(`[program:${name}]`));
  assert.ok(block, `no [program:${name}] in\n${text}`);
  return new Map(block.split('\n').filter((l) => l.includes('=') && !l.startsWith(';')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe('supervisord and systemd generation', () => {
  const conf = config({
    'resize-image': { file: './resize.ts', processes: 3, ttl: 3600, prefetch: 10, stopTimeout: 20, env: { LOG_LEVEL: 'info', QUOTE: 'say "hi" 100%' } },
    short: { file: './resize.ts', ttl: 2, startRetries: 5 },
  });

  it('writes [program] blocks that keep TTL workers alive and stop them gracefully', () => {
    const text = supervisordConf(conf, { node: '/usr/bin/node', bin: '/opt/rw/bin/rabbit-worker.js', logs: 'stdout' });
    const p = program(text, 'resize-image');
    assert.equal(p.get('command'), `/usr/bin/node /opt/rw/bin/rabbit-worker.js run '${join(dir, 'resize.ts')}' --name resize-image --ttl 3600 --prefetch 10 --stop-timeout 20 --ready-within 9`);
    assert.equal(p.get('process_name'), '%(program_name)s_%(process_num)02d');
    assert.equal(p.get('numprocs'), '3');
    assert.equal(p.get('numprocs_start'), '1');
    assert.equal(p.get('autorestart'), 'true');
    assert.equal(p.get('startsecs'), '10', 'long enough for a cold start on a loaded host: RUNNING means consuming');
    assert.equal(p.get('startretries'), '3');
    assert.equal(p.get('exitcodes'), '0');
    assert.equal(p.get('stopsignal'), 'TERM');
    assert.equal(p.get('stopwaitsecs'), '30', 'stopTimeout 20 + 10');
    assert.equal(p.get('stopasgroup'), 'true');
    assert.equal(p.get('killasgroup'), 'true');
    assert.equal(p.get('directory'), dir);
    assert.equal(p.get('stdout_logfile'), '/dev/fd/1');
    assert.equal(p.get('stdout_logfile_maxbytes'), '0');
    const env = p.get('environment') ?? '';
    assert.match(env, /LOG_LEVEL="info"/);
    assert.match(env, /QUOTE="say \\"hi\\" 100%%"/, '" escaped and % doubled');
    // defect 8.8: a URL with a password is never written into the (world-readable) file: supervisord reads it from its own environment
    assert.match(env, /AMQP_URL="%\(ENV_RABBIT_WORKER_RESIZE_IMAGE_AMQP_URL\)s"/, 'the URL travels in the environment, by reference');
    assert.doesNotMatch(text, /p%40ss|p%%40ss|u:p/, 'no password anywhere in the output');
    assert.deepEqual(supervisordSecrets(conf), {
      RABBIT_WORKER_RESIZE_IMAGE_AMQP_URL: 'amqp://u:p%40ss@10.0.0.1:5672,amqp://u:p%40ss@10.0.0.2:5672',
      RABBIT_WORKER_SHORT_AMQP_URL: 'amqp://u:p%40ss@10.0.0.1:5672,amqp://u:p%40ss@10.0.0.2:5672',
    });
    assert.match(env, /RABBIT_WORKER_PROCESS="%\(program_name\)s_%\(process_num\)02d"/);
    assert.doesNotMatch(p.get('command') ?? '', /amqp:/, 'no password on the command line');

    const s = program(text, 'short');
    assert.equal(s.get('startsecs'), '2', 'never 0, never above the TTL');
    assert.match(s.get('command') ?? '', /--ready-within 1$/, 'a second before startsecs, at least 1');
    assert.equal(s.get('startretries'), '5');
    assert.equal(s.get('stopwaitsecs'), '40', 'default stopTimeout 30 + 10');
  });

  it('writes rotated log files: in childlogdir by default, or per process in --log-dir', () => {
    const auto = program(supervisordConf(conf), 'short');
    assert.equal(auto.get('stdout_logfile'), 'AUTO');
    assert.equal(auto.get('redirect_stderr'), 'true');
    const p = program(supervisordConf(conf, { logs: { dir: '/var/log/rw/' } }), 'short');
    assert.equal(p.get('stdout_logfile'), '/var/log/rw/%(program_name)s_%(process_num)02d.log');
    assert.equal(p.get('stdout_logfile_maxbytes'), '50MB');
  });

  it('quotes for supervisord and systemd', () => {
    assert.equal(quoteArg('/a/b.ts'), '/a/b.ts');
    assert.equal(quoteArg("/it's here"), `'/it'"'"'s here'`);
    assert.equal(formatEnvironment({ A: 'x\\y' }), 'A="x\\\\y"');
    assert.equal(systemdArg('/a b/$HOME/100%'), '"/a b/$$HOME/100%%"');
  });

  it('writes a systemd template unit per type', () => {
    const units = systemdUnits(conf, { node: '/usr/bin/node', bin: '/opt/rw/bin/rabbit-worker.js' });
    assert.deepEqual(units.map((u) => u.name), ['rabbit-worker-resize-image@.service', 'rabbit-worker-short@.service']);
    const text = units[0]?.text ?? '';
    assert.match(text, /^Restart=always$/m);
    assert.match(text, /^RestartPreventExitStatus=2$/m);
    assert.match(text, /^KillMode=mixed$/m);
    assert.match(text, /^TimeoutStopSec=30$/m);
    assert.match(text, /^ExecStart=\/usr\/bin\/node \/opt\/rw\/bin\/rabbit-worker\.js run "[^"]+resize\.ts" --name resize-image --ttl 3600 --prefetch 10 --stop-timeout 20$/m);
    assert.doesNotMatch(text, /amqp:\/\/u:p/, 'no password in a unit (units are world-readable; systemctl show prints Environment=)');
    assert.match(text, /^EnvironmentFile=\/etc\/rabbit-worker\/rabbit-worker-resize-image\.env$/m);
    assert.deepEqual(units[0]?.secrets, { AMQP_URL: 'amqp://u:p%40ss@10.0.0.1:5672,amqp://u:p%40ss@10.0.0.2:5672' });
    assert.match(text, /^Environment="RABBIT_WORKER_PROCESS=resize-image_%i"$/m);
    assert.match(text, /^StartLimitBurst=4$/m);
    assert.match(text, /^WantedBy=multi-user.target$/m);
  });

  it('keeps secrets apart: what counts as one, and the 0600 file that holds them', () => {
    assert.equal(isSecret('AMQP_URL', 'amqp://u:p@h'), true);
    assert.equal(isSecret('AMQP_URL', 'amqp://h:5672,amqp://u:p@h2'), true);
    assert.equal(isSecret('AMQP_URL', 'amqp://h:5672'), false);
    assert.equal(isSecret('SMTP_PASSWORD', 'x'), true);
    assert.equal(isSecret('LOG_LEVEL', 'info'), false);
    const file = join(dir, 'secrets', 'w.env');
    writeSecretFile(file, envFileText({ AMQP_URL: 'amqp://u:"p"@h' }));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'secrets')).mode & 0o777, 0o700);
    assert.equal(readFileSync(file, 'utf8'), 'AMQP_URL="amqp://u:\\"p\\"@h"\n');
  });
});
