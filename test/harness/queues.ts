import { askAny, type HasNodes } from './connections.js';
import type { BrokerNode } from './node.js';

/** Where a quorum queue's replicas are, and what each is doing. */
export interface QuorumMembers {
  /** The member whose Raft state is `leader`; undefined while none is (an election, a lost quorum). */
  leader: string | undefined;
  /** Every member node, running or not, sorted. */
  members: string[];
  /** The members whose replica runs (any Raft state but `noproc` and `nodedown`), sorted. */
  online: string[];
  /** Each member's Raft state as the broker prints it: leader, follower, candidate, pre_vote, noproc, nodedown… */
  states: Record<string, string>;
}

interface StatusRow {
  'Node Name'?: unknown;
  'Raft State'?: unknown;
}

/**
 * The replicas of `queue` from `rabbitmq-queues quorum_status <queue> --formatter json`, asked of the first
 * node that answers. Not `rabbitmqctl list_queues name leader members online`: on 3.10 that omits a quorum
 * queue whose quorum is lost (with or without `--offline`), while quorum_status still reports every
 * member. Throws `HARNESS_CLI_FAILED` when no node answers (or the queue does not exist).
 */
export async function quorumMembers(cluster: HasNodes, queue: string, vhost = '/'): Promise<QuorumMembers> {
  return parseQuorumStatus(await askAny(cluster, ['quorum_status', '--vhost', vhost, queue, '--formatter', 'json'], 'rabbitmq-queues'));
}

/** Parses `rabbitmq-queues quorum_status <queue> --formatter json`. */
export function parseQuorumStatus(output: string): QuorumMembers {
  const rows = JSON.parse(output.slice(output.indexOf('['))) as StatusRow[];
  const states: Record<string, string> = {};
  for (const row of rows) {
    if (typeof row['Node Name'] !== 'string') continue;
    const state = row['Raft State'];
    // a down node's state is printed as ["nodedown", "<node>"]
    states[row['Node Name']] = Array.isArray(state) ? String(state[0]) : String(state);
  }
  const members = Object.keys(states).sort();
  return {
    leader: members.find((m) => states[m] === 'leader'),
    members,
    online: members.filter((m) => states[m] !== 'noproc' && states[m] !== 'nodedown'),
    states,
  };
}

/** The node that leads `queue`'s Raft group; undefined while no member is leader. */
export async function quorumLeader(cluster: HasNodes, queue: string, vhost = '/'): Promise<BrokerNode | undefined> {
  const { leader } = await quorumMembers(cluster, queue, vhost);
  return cluster.nodes.find((n) => n.name === leader);
}
