import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

// Read from node_modules directly: some packages (amqplib) do not export their package.json.
function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function command(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15_000 }).trim();
  } catch {
    return 'unknown';
  }
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  rabbitmq: string;
  redis: string;
  packages: Record<string, string>;
  rabbitWorker: string;
  commit: string;
}

export function machineInfo(): MachineInfo {
  const rabbitStatus = command('rabbitmqctl', ['version']);
  const redis = command('redis-server', ['--version']).match(/v=(\S+)/)?.[1] ?? 'unknown';
  const root = new URL('../../', import.meta.url);
  const own = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { version: string };
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    rabbitmq: rabbitStatus,
    redis,
    packages: Object.fromEntries(['amqplib', 'rascal', 'rabbitmq-client', 'bullmq', 'ioredis'].map((p) => [p, packageVersion(p)])),
    rabbitWorker: own.version,
    commit: `${command('git', ['-C', root.pathname, 'rev-parse', '--short', 'HEAD'])}${command('git', ['-C', root.pathname, 'status', '--porcelain', 'src']) === '' ? '' : ' + uncommitted changes in src/'}`,
  };
}
