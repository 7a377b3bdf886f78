import { runCli, cliOrThrow } from './cli.js';
import { HarnessError, HarnessErrorCode } from './errors.js';
import { runningPid, type BrokerNode } from './node.js';

/** One client connection as the broker lists it. */
export interface ConnectionInfo {
  /** The connection process, as `rabbitmqctl close_connection` takes it: `<node.creation.id.serial>`. */
  pid: string;
  /** The node that holds the connection (from its pid). */
  node: string;
  /** The broker's name for it, `127.0.0.1:<client port> -> 127.0.0.1:<node's AMQP port>`. */
  name: string;
  /** The `connection_name` the client announced, if any. */
  connectionName: string | undefined;
}

/** Anything with nodes: a cluster, or a single node wrapped as `{ nodes: [node] }`. */
export interface HasNodes {
  readonly nodes: readonly BrokerNode[];
}

/**
 * Every client connection of the cluster. `list_connections` on any node lists the connections of
 * every node, so one running node is asked; the holding node is read from the connection's pid (the
 * JSON formatter prints pids without their node, hence the tab-separated form).
 */
export async function listConnections(cluster: HasNodes): Promise<ConnectionInfo[]> {
  return parseConnections(await askAny(cluster, ['list_connections', '-q', '--no-table-headers', 'pid', 'name', 'client_properties']));
}

/** Parses `list_connections -q --no-table-headers pid name client_properties` (tab-separated). */
export function parseConnections(output: string): ConnectionInfo[] {
  const connections: ConnectionInfo[] = [];
  for (const line of output.split('\n')) {
    const [pid, name, properties] = line.split('\t');
    if (pid === undefined || name === undefined || !pid.startsWith('<')) continue;
    const node = /^<([^.]+@[^.]+(?:\.[^.]+)*?)\.\d+\.\d+\.\d+>$/.exec(pid)?.[1] ?? '';
    const quoted = /\{"connection_name","((?:[^"\\]|\\.)*)"\}/.exec(properties ?? '')?.[1];
    connections.push({ pid, node, name, connectionName: quoted === undefined ? undefined : JSON.parse(`"${quoted}"`) as string });
  }
  return connections;
}

/**
 * The node a client connection is on, found by a substring of the `connection_name` it announced
 * (amqplib: `clientProperties: { connection_name }`); undefined when no such connection exists.
 */
export async function nodeOfConnection(cluster: HasNodes, connectionNameSubstring: string): Promise<BrokerNode | undefined> {
  const found = (await listConnections(cluster)).find((c) => c.connectionName?.includes(connectionNameSubstring) === true);
  return found === undefined ? undefined : cluster.nodes.find((n) => n.name === found.node);
}

/**
 * Closes the client connections held by `node` whose `connection_name` (or, for a client that announced
 * none, the broker's name for it) matches: a substring, or a RegExp. `close_connection` sends the client a
 * connection.close with `reason`, as an operator would. Returns how many were closed.
 */
export async function closeConnections(node: BrokerNode, match: string | RegExp, reason = 'closed by the test harness'): Promise<number> {
  const matches = (text: string | undefined): boolean => text !== undefined && (typeof match === 'string' ? text.includes(match) : match.test(text));
  const targets = (await listConnections({ nodes: [node] })).filter((c) => c.node === node.name && matches(c.connectionName ?? c.name));
  for (const target of targets) await cliOrThrow('rabbitmqctl', node.name, ['close_connection', target.pid, reason]);
  return targets.length;
}

/**
 * Runs a read-only rabbitmqctl command on the first node whose VM runs and whose broker answers (a node
 * after `stop_app` answers no such command). Throws `HARNESS_CLI_FAILED` when none does.
 */
export async function askAny(cluster: HasNodes, args: string[], tool: 'rabbitmqctl' | 'rabbitmq-queues' = 'rabbitmqctl'): Promise<string> {
  const failures: string[] = [];
  for (const node of cluster.nodes) {
    if (runningPid(node) === undefined) continue;
    const result = await runCli(tool, node.name, args, 30_000);
    if (result.ok) return result.output;
    failures.push(`${node.name}: ${result.output.split('\n').slice(-2).join(' ')}`);
  }
  throw new HarnessError(HarnessErrorCode.CLI_FAILED, `no node answered "${tool} ${args.join(' ')}"${failures.length > 0 ? `: ${failures.join('; ')}` : ' (no VM running)'}`);
}
