import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { cliOrThrow, runCli } from './cli.js';
import { HarnessError, HarnessErrorCode } from './errors.js';
import { runningPid, startNode, stopNode, type BrokerNode } from './node.js';
import { freeNodePorts, type NodePorts } from './ports.js';

/** How to start a cluster of nodes of our own. */
export interface ClusterOptions {
  /** Absolute directory; node i (1-based) lives in `<dir>/node<i>`. Removed by `stop()`. */
  dir: string;
  /**
   * Number of nodes.
   * @default 3
   */
  size?: number;
  /**
   * AMQP port of node 1; node i listens on `basePort + i - 1`, its distribution on that + 10000.
   * @default free ports probed on 127.0.0.1
   */
  basePort?: number;
  /**
   * Node i is named `<namePrefix>-<i>@localhost`; see {@link clusterNodeNames}.
   * @default `rwc-<6 random hex digits>`
   */
  namePrefix?: string;
  /**
   * rabbitmq.conf lines for every node (see `NodeOptions.extraConfig`).
   * @default []
   */
  extraConfig?: string[];
  /**
   * advanced.config for every node (see `NodeOptions.advancedConfig`).
   * @default '[].'
   */
  advancedConfig?: string;
  /**
   * Bound on each node's boot, and on the wait for every node to be running in the cluster.
   * @default 90000
   */
  timeoutMs?: number;
  /**
   * Told of each step with its time (nodes up, each join, all running), e.g. for the chaos run's log.
   * @default nothing
   */
  log?: (line: string) => void;
}

/** A running cluster: node 1 first. */
export interface Cluster {
  readonly nodes: BrokerNode[];
  /** Every node's AMQP URL, comma-separated, node 1 first: what `AMQP_URL` takes for a cluster. */
  readonly url: string;
  /** Stops every node (SIGKILL: the data goes with the directory) and removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

/** The node names a cluster with this prefix and size gets (a cleanup can look for them before start returns). */
export function clusterNodeNames(namePrefix: string, size: number): string[] {
  return Array.from({ length: size }, (_, i) => `${namePrefix}-${i + 1}@localhost`);
}

function normalize(options: ClusterOptions): Required<Omit<ClusterOptions, 'basePort'>> & { basePort: number | undefined } {
  const bad = (field: string, why: string): never => {
    throw new HarnessError(HarnessErrorCode.OPTION_INVALID, `startCluster: ${field} ${why}`);
  };
  if (typeof options.dir !== 'string' || !isAbsolute(options.dir)) bad('dir', `must be an absolute path, got ${JSON.stringify(options.dir)}`);
  const size = options.size ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > 9) bad('size', `must be an integer in 1-9, got ${String(size)}`);
  const basePort = options.basePort;
  if (basePort !== undefined && (!Number.isInteger(basePort) || basePort < 1024 || basePort + size + 10_000 > 65_535)) {
    bad('basePort', `must be an integer such that basePort..basePort+size+10000 fit in 1024-65535, got ${String(basePort)}`);
  }
  const namePrefix = options.namePrefix ?? `rwc-${randomBytes(3).toString('hex')}`;
  if (!/^[A-Za-z0-9_-]+$/.test(namePrefix)) bad('namePrefix', `must be letters, digits, - or _, got ${JSON.stringify(namePrefix)}`);
  const timeoutMs = options.timeoutMs ?? 90_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1000) bad('timeoutMs', `must be an integer >= 1000, got ${String(timeoutMs)}`);
  return { dir: options.dir, size, basePort, namePrefix, extraConfig: options.extraConfig ?? [], advancedConfig: options.advancedConfig ?? '[].', timeoutMs, log: options.log ?? (() => {}) };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts `size` nodes in parallel, joins nodes 2..n to node 1 one at a time (`stop_app`, `reset`,
 * `join_cluster`, `start_app`), and waits (bounded) until node 1's `cluster_status` lists every node as
 * running. If anything fails, every node already started is killed before it throws
 * `HARNESS_CLUSTER_FAILED`.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const o = normalize(options);
  const names = clusterNodeNames(o.namePrefix, o.size);
  const ports: NodePorts[] =
    o.basePort === undefined ? await freeNodePorts(o.size) : names.map((_, i) => ({ amqpPort: (o.basePort as number) + i, distPort: (o.basePort as number) + i + 10_000 }));
  const started: BrokerNode[] = [];
  const t0 = Date.now();
  const log = (line: string): void => o.log(`${line} (+${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const kill = async (): Promise<void> => {
    await Promise.allSettled(started.map((n) => stopNode(n, { graceful: false })));
    rmSync(o.dir, { recursive: true, force: true });
  };
  try {
    const booted = await Promise.allSettled(
      names.map(async (name, i) => {
        const node = await startNode({ name, ...(ports[i] as NodePorts), dir: join(o.dir, `node${i + 1}`), extraConfig: o.extraConfig, advancedConfig: o.advancedConfig, timeoutMs: o.timeoutMs });
        started.push(node);
        log(`${name} up on 127.0.0.1:${node.amqpPort}`);
        return node;
      }),
    );
    const failed = booted.find((b): b is PromiseRejectedResult => b.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const nodes = booted.map((b) => (b as PromiseFulfilledResult<BrokerNode>).value);
    const first = nodes[0] as BrokerNode;
    for (const node of nodes.slice(1)) {
      await joinCluster(node, first);
      log(`${node.name} joined ${first.name}`);
    }
    await waitRunning(nodes, names, o.timeoutMs);
    log(`cluster of ${o.size} running`);
    let stopping: Promise<void> | undefined;
    return { nodes, url: nodes.map((n) => n.url).join(','), stop: () => (stopping ??= kill()) };
  } catch (error) {
    await kill();
    throw new HarnessError(HarnessErrorCode.CLUSTER_FAILED, `cluster ${o.namePrefix} of ${o.size} could not be formed: ${(error as Error).message}`, { cause: error });
  }
}

/** Makes `node` a member of `target`'s cluster, the documented way. */
async function joinCluster(node: BrokerNode, target: BrokerNode): Promise<void> {
  await cliOrThrow('rabbitmqctl', node.name, ['stop_app'], 60_000);
  await cliOrThrow('rabbitmqctl', node.name, ['reset'], 60_000);
  await cliOrThrow('rabbitmqctl', node.name, ['join_cluster', target.name], 60_000);
  await cliOrThrow('rabbitmqctl', node.name, ['start_app'], 120_000);
}

/**
 * The nodes the cluster reports as running (the `rabbit` application up), asked of the first node
 * whose VM runs and answers; undefined when none answers.
 */
export async function runningNodes(nodes: readonly BrokerNode[]): Promise<string[] | undefined> {
  for (const node of nodes) {
    if (runningPid(node) === undefined) continue;
    const status = await runCli('rabbitmqctl', node.name, ['cluster_status', '--formatter', 'json'], 30_000);
    if (!status.ok) continue;
    try {
      const parsed = JSON.parse(status.output) as { running_nodes?: unknown };
      if (Array.isArray(parsed.running_nodes)) return parsed.running_nodes.filter((n): n is string => typeof n === 'string').sort();
    } catch {
      // a warning printed before the JSON: try the next node
    }
  }
  return undefined;
}

/** Waits (bounded) until every one of `names` is running in the cluster. */
export async function waitRunning(nodes: readonly BrokerNode[], names: readonly string[] = nodes.map((n) => n.name), timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen: string[] | undefined;
  for (;;) {
    seen = await runningNodes(nodes);
    if (seen !== undefined && names.every((n) => seen?.includes(n))) return;
    if (Date.now() > deadline) {
      throw new HarnessError(HarnessErrorCode.STATE_TIMEOUT, `after ${timeoutMs} ms the cluster runs ${seen === undefined ? '(no node answered)' : seen.join(', ')}; expected ${names.join(', ')}`);
    }
    await sleep(500);
  }
}
