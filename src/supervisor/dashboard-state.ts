import { hostname } from 'node:os';
import { HANDLED_OUTCOMES, HANDLER_BUCKETS, MetricName, type HandledOutcome } from '../metrics/names.js';
import { sumOf, type MetricSnapshot } from '../metrics/snapshot.js';
import { VERSION } from '../version.js';
import type { DashboardState, HostInfo, ProcessInfo, QueueInfo } from './dashboard-contract.js';
import type { Heartbeat, PeerEntry, QueueCounters } from './peers.js';
import type { QueueRates } from './queue-series.js';
import type { QueueDepth } from './queue-stats.js';
import type { SupervisorStatus } from './supervisor.js';

/** A supervisor's status as the dashboard shows a host. */
export function hostOf(id: string, status: SupervisorStatus): Heartbeat['host'] {
  return {
    id,
    hostname: hostname(),
    pid: status.pid,
    config: status.config,
    uptimeSeconds: status.uptimeSeconds,
    version: VERSION,
    types: status.types.map((t) => ({ name: t.name, queue: t.queue ?? '', desired: t.desired, running: t.running, fatal: t.fatal })),
    processes: status.processes.map(
      (p): ProcessInfo => ({
        type: p.type,
        name: p.name,
        state: p.state,
        pid: p.pid,
        uptimeSeconds: p.uptimeSeconds,
        restarts: p.restarts,
        lastExit: p.lastExit,
        handled: p.handled,
        handledTotal: p.handledTotal,
        inflight: p.inflight,
        inflightIds: p.inflightIds.slice(0, 20),
        workerState: p.workerState,
        memoryMb: p.memoryMb,
        ...(p.fatalReason !== undefined ? { fatalReason: p.fatalReason } : {}),
      }),
    ),
  };
}

/** This host's counters per queue, from its processes' metrics (live and exited) and their in-flight counts. */
export function countersByQueue(groups: ReadonlyArray<readonly MetricSnapshot[]>, status: SupervisorStatus): Record<string, QueueCounters> {
  const metrics = groups.flat();
  const out: Record<string, QueueCounters> = {};
  for (const type of status.types) {
    const queue = type.queue;
    if (queue === null || out[queue] !== undefined) continue;
    const handled = Object.fromEntries(HANDLED_OUTCOMES.map((o) => [o, sumOf(metrics, MetricName.handled, { queue, outcome: o })])) as Record<HandledOutcome, number>;
    const durations = [...HANDLER_BUCKETS.map((le) => le as number | string), '+Inf'].map((le) => sumOf(metrics, MetricName.handlerDuration, { queue, le }, `${MetricName.handlerDuration}_bucket`));
    const inflight = status.processes.filter((p) => status.types.find((t) => t.name === p.type)?.queue === queue).reduce((n, p) => n + p.inflight, 0);
    out[queue] = { handled, durations, inflight };
  }
  return out;
}

export interface StateInputs {
  self: Heartbeat;
  peers: PeerEntry[];
  depth: (queue: string) => QueueDepth;
  rates: (queue: string) => QueueRates;
  delayed: number | null;
  readOnly: boolean;
  now: number;
}

/** `GET /api/state`: this host, every other host heard of, and the queues of every online host's types. */
export function dashboardState(inputs: StateInputs): DashboardState {
  const { self, peers, now } = inputs;
  const hosts: HostInfo[] = [
    { ...self.host, online: true, self: true, lastSeen: now },
    ...peers.map((p): HostInfo => ({ ...p.beat.host, online: p.online, self: false, lastSeen: p.lastSeen })).sort((a, b) => a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id)),
  ];
  const queues = new Map<string, QueueInfo>();
  const beats = [self, ...peers.filter((p) => p.online).map((p) => p.beat)];
  for (const beat of beats) {
    for (const type of beat.host.types) {
      if (type.queue === '' || queues.has(type.queue)) continue;
      const depth = inputs.depth(type.queue);
      const rates = inputs.rates(type.queue);
      const unacked = beats.reduce((n, b) => n + (b.queues[type.queue]?.inflight ?? 0), 0);
      queues.set(type.queue, { name: type.queue, type: type.name, ready: depth.ready, unacked, consumers: depth.consumers, inRate: rates.inRate, outRate: rates.outRate, delayed: null, dead: depth.dead });
    }
  }
  return { self: self.host.id, readOnly: inputs.readOnly, version: VERSION, now, hosts, queues: [...queues.values()].sort((a, b) => a.name.localeCompare(b.name)), delayed: inputs.delayed };
}
