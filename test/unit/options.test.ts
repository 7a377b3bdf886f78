import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { overridesFromFlags, overridesToFlags } from '../../src/worker/run-flags.js';
import { DEFAULT_SETTINGS, normalizeSettings } from '../../src/worker/options.js';
import { parseUrls, redactUrl } from '../../src/broker/url.js';
import { exitCodeFor, ConfigError, BrokerUnreachableError, PermanentError, ExitCode, RabbitWorkerError, ErrorCode } from '../../src/errors.js';

describe('normalizeSettings', () => {
  it('fills the documented defaults', () => {
    assert.deepEqual(normalizeSettings({ queue: 'q' }), { queue: 'q', ...DEFAULT_SETTINGS });
    assert.equal(DEFAULT_SETTINGS.prefetch, 1);
    assert.equal(DEFAULT_SETTINGS.isolation, 'thread');
    assert.equal(DEFAULT_SETTINGS.queueType, 'quorum');
  });

  it('takes maxPriority on a classic queue (0 = none, the default)', () => {
    assert.equal(DEFAULT_SETTINGS.maxPriority, 0);
    assert.equal(normalizeSettings({ queue: 'q', queueType: 'classic', maxPriority: 10 }).maxPriority, 10);
    assert.deepEqual(overridesFromFlags({ maxPriority: '3' }), { maxPriority: 3 });
  });

  it('lets overrides win over the worker, and ignores undefined', () => {
    const s = normalizeSettings({ queue: 'q', ttl: 10, prefetch: 5 }, { ttl: 20, prefetch: undefined });
    assert.equal(s.ttl, 20);
    assert.equal(s.prefetch, 5);
  });

  for (const [input, message] of [
    [{}, /^queue: no queue configured/],
    [{ queue: 'q', ttl: -1 }, /^ttl: /],
    [{ queue: 'q', prefetch: 0 }, /^prefetch: /],
    [{ queue: 'q', prefetch: 2.5 }, /^prefetch: .*int/],
    [{ queue: 'q', isolation: 'process' }, /^isolation: /],
    [{ queue: 'q', queueType: 'stream' }, /^queueType: /],
    [{ queue: 'q', spareMemoryMultiplier: 0 }, /^spareMemoryMultiplier: /],
    [{ queue: 'q', bogus: 1 }, /unknown setting "bogus"/],
    [{ queue: 'q', maxPriority: 256, queueType: 'classic' }, /^maxPriority: /],
    [{ queue: 'q', maxPriority: 5 }, /^maxPriority: priorities need queueType 'classic'/],
  ] as const) {
    it(`rejects ${JSON.stringify(input)} with a one-line ConfigError`, () => {
      assert.throws(() => normalizeSettings(input as never), (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, message);
        assert.ok(!error.message.includes('\n'));
        return true;
      });
    });
  }
});

describe('run flags', () => {
  it('parse numbers and name the flag of a non-number', () => {
    assert.deepEqual(overridesFromFlags({ ttl: '60', isolation: 'none', maxMessages: '0' }), { ttl: 60, isolation: 'none', maxMessages: 0 });
    assert.throws(() => overridesFromFlags({ memoryLimitMb: 'lots' }), /--memory-limit-mb: expected a number, got "lots"/);
    assert.throws(() => overridesFromFlags({ ttl: '' }), /--ttl: expected a number/);
  });

  it('render overrides back to flags in a stable order', () => {
    assert.deepEqual(overridesToFlags({ prefetch: 10, ttl: 3600, isolation: 'none' }), ['--ttl', '3600', '--prefetch', '10', '--isolation', 'none']);
    assert.deepEqual(overridesFromFlags(Object.fromEntries(chunk(overridesToFlags({ ttl: 5, queueType: 'classic' }))) as never), { ttl: 5, queueType: 'classic' });
  });
});

function chunk(flags: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flags.length; i += 2) {
    const key = (flags[i] as string).slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    out.push([key, flags[i + 1] as string]);
  }
  return out;
}

describe('broker URLs', () => {
  it('redacts passwords and only passwords', () => {
    assert.equal(redactUrl('amqp://user:pa:ss@host:5672/vh'), 'amqp://user:***@host:5672/vh');
    assert.equal(redactUrl('amqps://user:secret@host'), 'amqps://user:***@host');
    assert.equal(redactUrl('amqp://host:5672'), 'amqp://host:5672');
    // defect 8.8: a raw @ in the password; the URL parser that connects ends the user info at the last @
    assert.equal(redactUrl('amqp://u:p@ss@host:5672/vh'), 'amqp://u:***@host:5672/vh');
    assert.equal(redactUrl('amqp://u:p@ss@host/v@x'), 'amqp://u:***@host/v@x');
    assert.equal(redactUrl('not a url://a:b@c'), 'not a url://***@c');
  });
  it('splits a cluster list', () => {
    assert.deepEqual(parseUrls('amqp://a, amqp://b,,'), ['amqp://a', 'amqp://b']);
  });
});

describe('exit codes', () => {
  it('map errors to 2, 3 and 1', () => {
    assert.equal(exitCodeFor(new ConfigError('x')), ExitCode.CONFIG);
    assert.equal(exitCodeFor(new RabbitWorkerError(ErrorCode.WORKER_LOAD_FAILED, 'x')), ExitCode.CONFIG);
    assert.equal(exitCodeFor(new RabbitWorkerError(ErrorCode.TOPOLOGY_MISMATCH, 'x')), ExitCode.CONFIG);
    assert.equal(exitCodeFor(new BrokerUnreachableError('x')), ExitCode.BROKER_UNREACHABLE);
    assert.equal(exitCodeFor(new PermanentError('x')), ExitCode.FAILURE);
    assert.equal(exitCodeFor(new Error('x')), ExitCode.FAILURE);
  });
});
