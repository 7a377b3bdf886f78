import { askAny, type HasNodes } from './connections.js';
import { HarnessError, HarnessErrorCode } from './errors.js';
import type { BrokerNode } from './node.js';

/** Where a quorum queue's replicas are, as the broker reports them. */
export interface QuorumMembers {
  /** The node of its Raft leader; undefined while none is elected (or the queue's leader is unknown). */
  leader: string | undefined;
  /** Every member node, running or not. */
  members: string[];
  /** The members whose replica is up right now. */
  online: string[];
}

/**
 * The replicas of `queue` from `rabbitmqctl list_queues name leader members online --formatter json`
 * (3.10 has these columns; `rabbitmq-queues quorum_status` gives Raft states per member, but fails
 * outright while the queue has no leader). Asked of the first node that answers. Throws
 * `HARNESS_STATE_TIMEOUT` when the queue does not exist.
 */
export async function quorumMembers(cluster: HasNodes, queue: string, vhost = '/'): Promise<QuorumMembers> {
  const output = await askAny(cluster, ['list_queues', '-p', vhost, 'name', 'leader', 'members', 'online', '--formatter', 'json']);
  const rows = JSON.parse(output.slice(output.indexOf('['))) as Array<{ name?: unknown; leader?: unknown; members?: unknown; online?: unknown }>;
  const row = rows.find((r) => r.name === queue);
  if (row === undefined) throw new HarnessError(HarnessErrorCode.STATE_TIMEOUT, `no queue "${queue}" in vhost ${vhost}`);
  const names = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string').sort() : []);
  const leader = typeof row.leader === 'string' && row.leader.includes('@') ? row.leader : undefined;
  return { leader, members: names(row.members), online: names(row.online) };
}

/** The node that leads `queue`'s Raft group; undefined while no leader is elected. */
export async function quorumLeader(cluster: HasNodes, queue: string, vhost = '/'): Promise<BrokerNode | undefined> {
  const { leader } = await quorumMembers(cluster, queue, vhost);
  return cluster.nodes.find((n) => n.name === leader);
}
