import { execFile, spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { COOKIE_HOME, lastLines, runCli } from './cli.js';
import { HarnessError, HarnessErrorCode } from './errors.js';
import { busyPorts } from './ports.js';
import { alive, nodeNameOf, signal, waitGone } from './processes.js';

/** How to start a RabbitMQ node of our own. */
export interface NodeOptions {
  /** Erlang node name, e.g. `rwt-3f9a@localhost`; must not be registered with epmd yet. */
  name: string;
  /** AMQP listener, bound to 127.0.0.1 only. */
  amqpPort: number;
  /** Erlang distribution port, bound to 127.0.0.1 only (`inet_dist_use_interface`). */
  distPort: number;
  /** Absolute directory for its config, data (mnesia), logs and pid file; created if missing. */
  dir: string;
  /**
   * Lines appended to its `rabbitmq.conf` (new-style format), e.g. `'consumer_timeout = 5000'`.
   * @default []
   */
  extraConfig?: string[];
  /**
   * Its `advanced.config` (Erlang terms), for settings rabbitmq.conf has no key for. On 3.10 a channel
   * checks `consumer_timeout` only on its tick (`channel_tick_interval`, 60 s): a 5 s timeout fires after
   * up to a minute unless this shortens the tick, e.g. {@link FAST_CHANNEL_TICK}.
   * @default '[].'
   */
  advancedConfig?: string;
  /**
   * How long the node may take to boot (VM up and the `rabbit` application started), per start.
   * @default 60000
   */
  timeoutMs?: number;
}

/** A node started by {@link startNode}. The functions of this harness take it; only `pid` changes. */
export interface BrokerNode {
  readonly name: string;
  readonly amqpPort: number;
  readonly distPort: number;
  readonly dir: string;
  /** `amqp://guest:guest@127.0.0.1:<amqpPort>` (guest may connect: the listener is loopback only). */
  readonly url: string;
  /** Its main log, read by {@link logTail}. */
  readonly logFile: string;
  readonly extraConfig: readonly string[];
  readonly advancedConfig: string;
  readonly timeoutMs: number;
  /** OS pid of its beam.smp while the VM runs (from its pid file); undefined once stopped or killed. */
  pid: number | undefined;
  /** pid of the server script we spawned: leader of the process group the VM runs in. */
  groupPid: number | undefined;
}

/** An `advancedConfig` under which channels check `consumer_timeout` every second instead of every minute. */
export const FAST_CHANNEL_TICK = '[{rabbit, [{channel_tick_interval, 1000}]}].';

const DEFAULT_TIMEOUT_MS = 60_000;
const BOOT_MARK = '=== rabbit-worker harness: boot';
const NAME = /^[A-Za-z0-9_-]+@[A-Za-z0-9.-]+$/;

// The Debian package's script; falling back to PATH elsewhere.
const SERVER = existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server') ? '/usr/lib/rabbitmq/bin/rabbitmq-server' : 'rabbitmq-server';

/** Checks `options` and fills the defaults; throws `HARNESS_OPTION_INVALID` naming the bad field. */
export function normalizeNodeOptions(options: NodeOptions): Required<NodeOptions> {
  const bad = (field: string, why: string): never => {
    throw new HarnessError(HarnessErrorCode.OPTION_INVALID, `startNode: ${field} ${why}`);
  };
  if (typeof options.name !== 'string' || !NAME.test(options.name)) bad('name', `must look like "rwt-abc@localhost", got ${JSON.stringify(options.name)}`);
  for (const field of ['amqpPort', 'distPort'] as const) {
    const port = options[field];
    if (!Number.isInteger(port) || port < 1024 || port > 65_535) bad(field, `must be an integer port in 1024-65535, got ${String(port)}`);
  }
  if (options.amqpPort === options.distPort) bad('distPort', `must differ from amqpPort (${options.amqpPort})`);
  if (typeof options.dir !== 'string' || !isAbsolute(options.dir)) bad('dir', `must be an absolute path, got ${JSON.stringify(options.dir)}`);
  const extraConfig = options.extraConfig ?? [];
  extraConfig.forEach((line, i) => {
    if (typeof line !== 'string' || /[\r\n]/.test(line)) bad(`extraConfig[${i}]`, 'must be one rabbitmq.conf line');
  });
  const advancedConfig = options.advancedConfig ?? '[].';
  if (typeof advancedConfig !== 'string' || !advancedConfig.trim().endsWith('.')) bad('advancedConfig', 'must be Erlang terms ending with "."');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1000) bad('timeoutMs', `must be an integer >= 1000, got ${String(timeoutMs)}`);
  return { name: options.name, amqpPort: options.amqpPort, distPort: options.distPort, dir: options.dir, extraConfig: [...extraConfig], advancedConfig, timeoutMs };
}

/**
 * Starts a RabbitMQ node side by side with the system one and waits (bounded) until its `rabbit`
 * application runs. /etc/rabbitmq/rabbitmq-env.conf names the system node and /etc/rabbitmq/rabbitmq.conf
 * its listener, so every file the server reads is ours: env file, config file, plugins file; data, logs
 * and pid under `dir`. The Erlang cookie is the system one (HOME=/var/lib/rabbitmq), so plain
 * `rabbitmqctl -n <name>` reaches it. On failure it throws `HARNESS_NODE_START_FAILED` with the tail of
 * the node's log, after killing whatever it spawned: it never leaves a VM behind.
 */
export async function startNode(options: NodeOptions): Promise<BrokerNode> {
  const o = normalizeNodeOptions(options);
  const node: BrokerNode = {
    ...o,
    url: `amqp://guest:guest@127.0.0.1:${o.amqpPort}`,
    logFile: join(o.dir, 'log', `${o.name}.log`),
    pid: undefined,
    groupPid: undefined,
  };
  await launch(node);
  return node;
}

/**
 * Starts `node` again on its data directory, with the same name and ports: after {@link killVm} or a
 * stop with `keepDir`, the node comes back with its queues, messages and cluster membership. A VM still
 * running is stopped first (gracefully).
 */
export async function restart(node: BrokerNode): Promise<BrokerNode> {
  await stopVm(node, true);
  await launch(node);
  return node;
}

/**
 * Stops the node: `rabbitmqctl stop` (bounded), then SIGKILL if the VM is still there, then removes its
 * directory unless `keepDir`. `graceful: false` skips straight to SIGKILL (a node whose data is about to
 * be deleted need not flush it). Safe to call twice, and on a node that failed or was killed.
 */
export async function stopNode(node: BrokerNode, options: { keepDir?: boolean; graceful?: boolean } = {}): Promise<void> {
  await stopVm(node, options.graceful ?? true);
  if (options.keepDir !== true) rmSync(node.dir, { recursive: true, force: true });
}

/**
 * The last `lines` lines of the node's log, and of the server's own output when it has any (a VM that
 * dies while preparing its configuration says why only there).
 */
export function logTail(node: BrokerNode, lines = 30): string {
  const parts: string[] = [];
  for (const file of [node.logFile, join(node.dir, 'server.out')]) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8').trim();
    if (text !== '') parts.push(`--- ${file}\n${lastLines(text, lines)}`);
  }
  return parts.length > 0 ? parts.join('\n') : '(no log)';
}

/**
 * The first `count` error lines of this boot: a failed boot ends with a long crash report, while the
 * cause ("Conf file attempted to set unknown variable", "duplicate_node_name") comes first.
 */
function firstErrors(node: BrokerNode, count: number): string {
  const found: string[] = [];
  for (const file of [node.logFile, join(node.dir, 'server.out')]) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    const boot = text.lastIndexOf(BOOT_MARK);
    for (const line of text.slice(boot < 0 ? 0 : boot).split('\n')) if (line.includes('[error]') && found.length < count) found.push(line);
  }
  return found.length > 0 ? found.join('\n') : '(none)';
}

/** The pid file the node writes as it boots (and `rabbitmqctl wait` watches). */
const pidFileOf = (node: BrokerNode): string => join(node.dir, 'rabbitmq.pid');

/** Our VM of this node, if it runs: the pid must still carry the node's name (no pid reuse accident). */
export function runningPid(node: BrokerNode): number | undefined {
  const pid = node.pid;
  return pid !== undefined && alive(pid) && nodeNameOf(pid) === node.name ? pid : undefined;
}

async function launch(node: BrokerNode): Promise<void> {
  await ensureNameFree(node.name);
  const busy = await busyPorts([node.amqpPort, node.distPort]);
  if (busy.length > 0) throw new HarnessError(HarnessErrorCode.PORT_BUSY, `cannot start ${node.name}: port ${busy.join(' and ')} already in use on 127.0.0.1`);
  writeNodeFiles(node);
  rmSync(pidFileOf(node), { force: true }); // a stale one (after a kill) would make `wait` watch a dead pid
  // a mark in each file that firstErrors() looks back to, so that a restart shows this boot's errors only
  for (const file of [node.logFile, join(node.dir, 'server.out')]) appendFileSync(file, `${BOOT_MARK} ${new Date().toISOString()}\n`);
  const out = openSync(join(node.dir, 'server.out'), 'a');
  // Its own session and process group: a Ctrl-C in the terminal must not kill the node before we stop it
  // in order, and a failed start can be killed as a group.
  const server = spawn(SERVER, [], { env: serverEnv(node), cwd: node.dir, detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  server.unref();
  node.groupPid = server.pid;
  const exited = new AbortController();
  server.on('exit', () => exited.abort());
  server.on('error', () => exited.abort());
  // One CLI call for the whole boot: it waits for the pid file, the distribution, then the application.
  // If the VM dies before writing its pid file, `wait` would sit out its timeout: the abort kills it.
  const timeoutS = Math.ceil(node.timeoutMs / 1000);
  const waited = await runCli('rabbitmqctl', node.name, ['wait', pidFileOf(node), '--timeout', String(timeoutS)], node.timeoutMs + 10_000, exited.signal);
  const pid = readPid(node);
  if (waited.ok && pid !== undefined && !exited.signal.aborted) {
    node.pid = pid;
    return;
  }
  const why = exited.signal.aborted ? 'its VM exited' : `not up within ${timeoutS} s`;
  node.pid = pid;
  await killGroup(node);
  const detail = `first errors of this boot:\n${firstErrors(node, 12)}\nlast lines of its log:\n${logTail(node, 15)}`;
  throw new HarnessError(HarnessErrorCode.NODE_START_FAILED, `node ${node.name} did not start (${why}); rabbitmqctl wait said:\n${lastLines(waited.output, 3)}\n${detail}`);
}

function writeNodeFiles(node: BrokerNode): void {
  mkdirSync(join(node.dir, 'mnesia'), { recursive: true });
  mkdirSync(join(node.dir, 'log'), { recursive: true });
  // Sourced by the server script: the loopback-only distribution of the system node, our own name.
  const env = [`NODENAME=${node.name}`, 'ERL_EPMD_ADDRESS=127.0.0.1', 'export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"', ''];
  writeFileSync(join(node.dir, 'rabbitmq-env.conf'), env.join('\n'));
  writeFileSync(join(node.dir, 'rabbitmq.conf'), [`listeners.tcp.local = 127.0.0.1:${node.amqpPort}`, ...node.extraConfig, ''].join('\n'));
  writeFileSync(join(node.dir, 'enabled_plugins'), '[].\n');
  writeFileSync(join(node.dir, 'advanced.config'), `${node.advancedConfig}\n`); // always ours, never /etc's
}

function serverEnv(node: BrokerNode): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RABBITMQ_') && !key.startsWith('ERL_')));
  return {
    ...inherited,
    HOME: COOKIE_HOME, // the Erlang cookie the CLI tools share
    RABBITMQ_CONF_ENV_FILE: join(node.dir, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: join(node.dir, 'rabbitmq.conf'), // with its extension: the new-style format
    RABBITMQ_NODENAME: node.name, // also how processes.ts recognises our VMs
    RABBITMQ_NODE_PORT: String(node.amqpPort),
    RABBITMQ_DIST_PORT: String(node.distPort),
    RABBITMQ_MNESIA_BASE: join(node.dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(node.dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(node.dir, 'enabled_plugins'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(node.dir, 'advanced.config'),
    RABBITMQ_PID_FILE: pidFileOf(node),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
}

function readPid(node: BrokerNode): number | undefined {
  try {
    const pid = Number(readFileSync(pidFileOf(node), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses a name epmd already knows (a leftover node, or the system node's): starting would fail anyway,
 * and this says why at once. A node we just killed may take a moment to leave epmd, hence the wait.
 */
async function ensureNameFree(name: string): Promise<void> {
  const short = name.slice(0, name.indexOf('@'));
  const deadline = Date.now() + 2000;
  for (;;) {
    const names = await epmdNames();
    if (names === undefined || !names.includes(short)) return;
    if (Date.now() > deadline) {
      throw new HarnessError(HarnessErrorCode.NODE_NAME_TAKEN, `a node named ${name} is already running (a previous run left it?): stop it with "rabbitmqctl -n ${name} stop"`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Short names registered with the local epmd; undefined when epmd cannot be asked (no check then). */
function epmdNames(): Promise<string[] | undefined> {
  return new Promise((resolve) => {
    execFile('epmd', ['-names'], { timeout: 5000, env: { ...process.env, ERL_EPMD_ADDRESS: '127.0.0.1' } }, (error, stdout) => {
      if (error !== null) return resolve(undefined);
      resolve([...stdout.matchAll(/^name (\S+) at port \d+$/gm)].map((m) => m[1] as string));
    });
  });
}

/**
 * Ends our VM of the node, if it runs: `rabbitmqctl stop` when `graceful` (bounded; it returns before
 * the VM is gone, so we wait for the pid), then SIGKILL to whatever of its process group is left.
 */
async function stopVm(node: BrokerNode, graceful: boolean): Promise<void> {
  const pid = runningPid(node);
  if (pid !== undefined && graceful) {
    await runCli('rabbitmqctl', node.name, ['stop'], 30_000);
    await waitGone(pid, 15_000);
  }
  await killGroup(node);
}

/** SIGKILL to the VM and to the process group of the script that started it; waits until they are gone. */
async function killGroup(node: BrokerNode): Promise<void> {
  const pid = runningPid(node);
  if (pid !== undefined) signal(pid, 'SIGKILL');
  // the group only while its leader (the server script) is alive and ours: a dead leader's pid may since
  // lead someone else's group
  if (node.groupPid !== undefined && alive(node.groupPid) && nodeNameOf(node.groupPid) === node.name) signal(-node.groupPid, 'SIGKILL');
  if (pid !== undefined && !(await waitGone(pid, 10_000))) {
    throw new HarnessError(HarnessErrorCode.STATE_TIMEOUT, `the VM of ${node.name} (pid ${pid}) survived SIGKILL for 10 s`);
  }
  node.pid = undefined;
  node.groupPid = undefined;
}
