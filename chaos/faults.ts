import { killVm, rabbitmqctl, restart, setMemoryAlarm, waitRunning, type BrokerNode, type Cluster } from '../test/harness/index.js';
import { status } from './supervisor.js';

/**
 * `close`, `restart` and `node-kill` hit the run's node, or one node of its cluster at a time; `alarm` raises a
 * memory alarm (publishing blocks everywhere) for a few seconds; `delete-dlq` deletes a type's `.dlq` while
 * its workers run (their dead letters must not vanish).
 */
export type FaultKind = 'kill' | 'poison' | 'close' | 'restart' | 'node-kill' | 'alarm' | 'delete-dlq';

/** How long a memory alarm lasts. */
const ALARM_SECONDS = 6;

/** One fault as it happened. */
export interface Fault {
  kind: FaultKind;
  /** When it began (ms since the epoch). */
  startedAt: number;
  /** When the system is expected to recover from: the kill, the close, start_app's return. */
  at: number;
  detail: string;
  ok: boolean;
}

export interface FaultContext {
  /** The node to aim rabbitmqctl at; undefined: the default node (with --url). */
  node: string | undefined;
  /** The node itself (alarms need more than its name); undefined with --url or --cluster. */
  brokerNode?: BrokerNode;
  /** The work queues of the run (`delete-dlq` picks one). */
  queues: string[];
  /** With --cluster: node faults pick one of its nodes at random. */
  cluster?: Cluster;
  configPath: string;
  /** Seconds the broker application stays stopped. */
  outageSeconds: number;
  random: () => number;
  publishPoison: (count: number) => string;
  log: (line: string) => void;
  stopped: () => boolean;
  /** Told of each fault as soon as it happened (for the progress line). */
  onFault: (fault: Fault) => void;
}

/** The least time between the end of a fault and the start of the next. */
const MIN_GAP_MS = 3000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The order of the faults: about one every 4 s, at least one broker restart, one closing of every
 * connection and one poison burst; the rest mostly SIGKILLs. Seeded, so that a run can be replayed.
 */
export function planFaults(seconds: number, random: () => number, cluster = false): FaultKind[] {
  const count = Math.max(cluster ? 5 : 4, Math.floor(seconds / 4));
  // a cluster run is about its nodes: each node fault at least once, and as often as SIGKILLs
  const kinds: FaultKind[] = cluster ? ['restart', 'node-kill', 'close', 'poison', 'kill', 'alarm', 'delete-dlq'] : ['restart', 'close', 'poison', 'alarm', 'delete-dlq'];
  const weighted: FaultKind[] = cluster
    ? ['kill', 'kill', 'poison', 'close', 'restart', 'restart', 'node-kill', 'node-kill']
    : ['kill', 'kill', 'kill', 'kill', 'kill', 'poison', 'close', 'restart'];
  while (kinds.length < count) kinds.push(weighted[Math.floor(random() * weighted.length)] as FaultKind);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j] as FaultKind, kinds[i] as FaultKind];
  }
  return kinds;
}

/** Carries out one fault; never throws (a failed fault is logged and recorded as such). */
export async function inject(kind: FaultKind, ctx: FaultContext): Promise<Fault> {
  const startedAt = Date.now();
  const fault = (at: number, detail: string, ok = true): Fault => ({ kind, startedAt, at, detail, ok });
  try {
    switch (kind) {
      case 'kill': {
        const s = await status(ctx.configPath);
        const candidates = s.processes.filter((p) => p.pid !== null && (p.state === 'running' || p.state === 'starting'));
        const victim = candidates[Math.floor(ctx.random() * candidates.length)];
        if (victim === undefined || victim.pid === null) return fault(Date.now(), 'no live worker process to kill', false);
        process.kill(victim.pid, 'SIGKILL');
        return fault(Date.now(), `SIGKILL ${victim.name} (pid ${victim.pid}, ${victim.inflight} in flight)`);
      }
      case 'poison':
        return fault(Date.now(), ctx.publishPoison(2));
      case 'close':
      case 'restart':
      case 'node-kill':
      case 'alarm':
      case 'delete-dlq':
        // Never against a broker that is not ours: the system node serves every other test and user.
        if (ctx.node === undefined && ctx.cluster === undefined) return fault(Date.now(), `${kind} skipped: no private node (--url given)`, false);
    }
    if (kind === 'delete-dlq') {
      const queue = ctx.queues[Math.floor(ctx.random() * ctx.queues.length)] as string;
      const target = ctx.cluster?.nodes[0]?.name ?? ctx.node;
      const r = await rabbitmqctl(target, ['delete_queue', `${queue}.dlq`]);
      return fault(Date.now(), `deleted ${queue}.dlq: ${lastLine(r.output)} (${r.ms} ms)`, r.ok);
    }
    if (kind === 'alarm') {
      const node = ctx.cluster?.nodes[Math.floor(ctx.random() * ctx.cluster.nodes.length)] ?? ctx.brokerNode;
      if (node === undefined) return fault(Date.now(), 'alarm skipped: no private node', false);
      await setMemoryAlarm(node, true);
      await sleep(ALARM_SECONDS * 1000);
      await setMemoryAlarm(node, false);
      return fault(Date.now(), `memory alarm on ${node.name.replace(/@.*/, '')} for ${ALARM_SECONDS} s`);
    }
    if (ctx.cluster !== undefined) return await clusterFault(kind, ctx.cluster, ctx, fault);
    switch (kind) {
      case 'close': {
        const at = Date.now();
        const r = await rabbitmqctl(ctx.node, ['close_all_connections', 'chaos']);
        return fault(at, `close_all_connections: ${lastLine(r.output)} (${r.ms} ms)`, r.ok);
      }
      case 'restart': {
        const stop = await rabbitmqctl(ctx.node, ['stop_app'], 60_000);
        await sleep(ctx.outageSeconds * 1000);
        const start = await rabbitmqctl(ctx.node, ['start_app'], 120_000);
        return fault(Date.now(), `stop_app (${stop.ms} ms), ${ctx.outageSeconds} s down, start_app (${start.ms} ms)${stop.ok && start.ok ? '' : `: ${lastLine(stop.output)} / ${lastLine(start.output)}`}`, stop.ok && start.ok);
      }
      default:
        return fault(Date.now(), `${kind} needs --cluster`, false);
    }
  } catch (error) {
    return fault(Date.now(), `failed: ${(error as Error).message}`, false);
  }
}

/** A node fault on one node of the cluster, picked at random; the others keep serving. */
async function clusterFault(kind: FaultKind, cluster: Cluster, ctx: FaultContext, fault: (at: number, detail: string, ok?: boolean) => Fault): Promise<Fault> {
  const node = cluster.nodes[Math.floor(ctx.random() * cluster.nodes.length)] as BrokerNode;
  const short = node.name.replace(/@.*/, '');
  switch (kind) {
    case 'close': {
      const at = Date.now();
      const r = await rabbitmqctl(node.name, ['close_all_connections', 'chaos']);
      return fault(at, `close_all_connections on ${short}: ${lastLine(r.output)} (${r.ms} ms)`, r.ok);
    }
    case 'restart': {
      const stop = await rabbitmqctl(node.name, ['stop_app'], 60_000);
      await sleep(ctx.outageSeconds * 1000);
      const start = await rabbitmqctl(node.name, ['start_app'], 120_000);
      return fault(Date.now(), `stop_app of ${short} (${stop.ms} ms), ${ctx.outageSeconds} s down, start_app (${start.ms} ms)${stop.ok && start.ok ? '' : `: ${lastLine(stop.output)} / ${lastLine(start.output)}`}`, stop.ok && start.ok);
    }
    case 'node-kill': {
      const killedAt = Date.now();
      const pid = await killVm(node);
      await restart(node);
      await waitRunning(cluster.nodes, undefined, 120_000);
      return fault(Date.now(), `kill -9 of ${short}'s VM (pid ${pid}), restarted and running in the cluster after ${Date.now() - killedAt} ms`);
    }
    default:
      return fault(Date.now(), `${kind} is not a node fault`, false);
  }
}

const lastLine = (text: string): string => text.trim().split('\n').pop() ?? '';

/**
 * Runs the planned faults evenly over `seconds` (with jitter), one at a time, logging each with its time.
 * Stops early when `ctx.stopped()` says so (Ctrl-C).
 */
export async function runFaults(kinds: FaultKind[], seconds: number, ctx: FaultContext, startedAt: number): Promise<Fault[]> {
  const done: Fault[] = [];
  const slot = (seconds * 1000) / kinds.length;
  let previousEnd = 0;
  for (const [i, kind] of kinds.entries()) {
    // at least MIN_GAP_MS after the previous fault, even when it ran late (a slow rabbitmqctl, a restart):
    // otherwise the recovery from it cannot be measured
    const due = Math.max(startedAt + slot * i + slot * (0.25 + ctx.random() * 0.5), previousEnd + MIN_GAP_MS);
    while (Date.now() < due && !ctx.stopped()) await sleep(Math.min(250, due - Date.now()));
    if (ctx.stopped()) break;
    const fault = await inject(kind, ctx);
    previousEnd = Date.now();
    done.push(fault);
    ctx.onFault(fault);
    const clock = new Date(fault.startedAt).toISOString().slice(11, 23);
    ctx.log(`fault ${done.length}/${kinds.length} at ${clock} (+${((fault.startedAt - startedAt) / 1000).toFixed(1)} s): ${kind}: ${fault.detail}${fault.ok ? '' : ' [FAILED]'}`);
  }
  return done;
}
