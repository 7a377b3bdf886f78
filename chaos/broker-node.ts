import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rabbitmqctl } from './rabbitmqctl.js';

/** A RabbitMQ node of our own, so that closing connections and restarting it disturbs nobody else. */
export interface BrokerNode {
  name: string;
  url: string;
  /** Its data and logs: removed by {@link stopNode}. */
  dir: string;
  logFile: string;
}

export const CHAOS_NODE = 'rwchaos@localhost';
export const CHAOS_AMQP_PORT = 5692;
export const CHAOS_DIST_PORT = 25692;

// The Debian package's script; falling back to PATH elsewhere.
const SERVER = existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server') ? '/usr/lib/rabbitmq/bin/rabbitmq-server' : 'rabbitmq-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the node side by side with the system one. /etc/rabbitmq/rabbitmq-env.conf names the system
 * node and /etc/rabbitmq/rabbitmq.conf its listener, so every file the server reads is ours: env file,
 * config file, plugins file; data, logs and pid under `dir`. Waits (bounded) until the broker application
 * is up; on failure throws with the tail of the node's log.
 */
export async function startNode(dir: string, timeoutMs = 60_000): Promise<BrokerNode> {
  const name = CHAOS_NODE;
  const node: BrokerNode = { name, url: `amqp://guest:guest@127.0.0.1:${CHAOS_AMQP_PORT}`, dir, logFile: join(dir, 'log', `${name}.log`) };
  if ((await rabbitmqctl(name, ['status'], 15_000)).ok) {
    throw new Error(`a node named ${name} is already running (a previous chaos run left it?): stop it with "rabbitmqctl -n ${name} stop"`);
  }
  mkdirSync(join(dir, 'mnesia'), { recursive: true });
  mkdirSync(join(dir, 'log'), { recursive: true });
  const envFile = join(dir, 'rabbitmq-env.conf');
  // Sourced by the server script: the loopback-only distribution of the system node, our own name.
  writeFileSync(envFile, [`NODENAME=${name}`, 'ERL_EPMD_ADDRESS=127.0.0.1', 'export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"', ''].join('\n'));
  writeFileSync(join(dir, 'rabbitmq.conf'), `listeners.tcp.local = 127.0.0.1:${CHAOS_AMQP_PORT}\n`);
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  const env = {
    ...process.env,
    HOME: '/var/lib/rabbitmq', // the Erlang cookie the CLI tools share
    RABBITMQ_CONF_ENV_FILE: envFile,
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'), // with its extension: the new-style format
    RABBITMQ_NODENAME: name,
    RABBITMQ_NODE_PORT: String(CHAOS_AMQP_PORT),
    RABBITMQ_DIST_PORT: String(CHAOS_DIST_PORT),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
  const out = openSync(join(dir, 'server.out'), 'a');
  // Its own session: a Ctrl-C in the terminal must not kill the node before we stop it in order.
  const server = spawn(SERVER, [], { env, cwd: dir, detached: true, stdio: ['ignore', out, out] });
  server.unref();
  let exited = false;
  server.on('exit', () => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await sleep(1000);
    if (exited) break;
    // `status` answers as soon as the Erlang node is up; await_startup waits for the broker application.
    if ((await rabbitmqctl(name, ['await_startup', '--timeout', '10'], 15_000)).ok) return node;
  }
  const tail = logTail(node, 30);
  await stopNode(node, { keepDir: true });
  throw new Error(`the chaos node ${name} did not start within ${timeoutMs / 1000} s${exited ? ' (the server process exited)' : ''}; last lines of its log:\n${tail}`);
}

/** The last `lines` lines of the node's log (or of the server's own output, if there is no log yet). */
export function logTail(node: BrokerNode, lines = 30): string {
  for (const file of [node.logFile, join(node.dir, 'server.out')]) {
    if (existsSync(file)) return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }
  return '(no log)';
}

/** Stops the node (bounded), SIGKILLs it if it did not stop, and removes its directory. */
export async function stopNode(node: BrokerNode, options: { keepDir?: boolean } = {}): Promise<void> {
  const pidFile = join(node.dir, 'rabbitmq.pid');
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN;
  await rabbitmqctl(node.name, ['stop'], 30_000);
  // `stop` returns before the VM is gone: wait for it, bounded, then make sure.
  for (let i = 0; i < 20 && Number.isInteger(pid) && alive(pid); i++) await sleep(250);
  if (Number.isInteger(pid) && alive(pid)) process.kill(pid, 'SIGKILL');
  if (options.keepDir !== true) rmSync(node.dir, { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
