import type { DeadLetterInfo, HostInfo, LastExit, ProcessInfo, ProcessState, QueueInfo, Series, SeriesPoint, TypeInfo } from './dashboard-contract.js';

/**
 * The in-memory world behind the fake dashboard server: two hosts (one offline), three worker types,
 * processes in several states, and dead letters with JSON, text and binary bodies. Times are derived from
 * an injected clock, so that uptimes grow and started processes become running without timers.
 */

/** One supervised process slot. */
export interface FakeProcess {
  type: string;
  slot: number;
  state: ProcessState;
  pid: number | null;
  /** Epoch ms when the current run started (null when not running). */
  startedAt: number | null;
  /** Epoch ms of the last state change, for the starting → running and stopping → gone steps. */
  changedAt: number;
  restarts: number;
  lastExit: LastExit | null;
  handledBase: number;
  /** Messages per second this process handles while running. */
  rate: number;
  inflightIds: string[];
  memoryMb: number | null;
  fatalReason?: string;
}

export interface FakeType {
  queue: string;
  file: string;
  desired: number;
}

export interface FakeHost {
  id: string;
  hostname: string;
  pid: number;
  config: string;
  online: boolean;
  lastSeen: number;
  startedAt: number;
  version: string;
  types: Map<string, FakeType>;
  processes: FakeProcess[];
}

export interface FakeDeadLetter {
  messageId: string | null;
  attempts: number | null;
  failedAt: string | null;
  firstFailedAt: string | null;
  reason: string | null;
  error: string | null;
  body: Buffer;
  headers: Record<string, unknown>;
}

export interface FakeQueue {
  name: string;
  type: string;
  ready: number;
  unacked: number;
  inRate: number;
  outRate: number;
  delayed: number | null;
  dlq: FakeDeadLetter[];
}

export interface FakeWorld {
  selfId: string;
  version: string;
  hosts: FakeHost[];
  queues: FakeQueue[];
}

/** How long a scaled-up process stays `starting`, and a scaled-down one `stopping`. */
export const TRANSITION_MS = 1_000;

const iso = (ms: number): string => new Date(ms).toISOString();

function proc(type: string, slot: number, state: ProcessState, now: number, extra: Partial<FakeProcess> = {}): FakeProcess {
  const live = state === 'running' || state === 'starting' || state === 'stopping';
  return {
    type,
    slot,
    state,
    pid: live ? 4200 + slot * 17 + type.length : null,
    startedAt: live ? now - 3_600_000 + slot * 61_000 : null,
    changedAt: now,
    restarts: 0,
    lastExit: null,
    handledBase: 1_000 * slot,
    rate: live ? 2 + slot : 0,
    inflightIds: [],
    memoryMb: live ? 80 + slot * 7.3 : null,
    ...extra,
  };
}

function deadLetter(queue: string, n: number, now: number, body: Buffer, reason: string, error: string | null, messageId: string | null): FakeDeadLetter {
  const failedAt = now - (n + 1) * 7 * 60_000;
  return {
    messageId,
    attempts: 5,
    failedAt: iso(failedAt),
    firstFailedAt: iso(failedAt - 4 * 60_000),
    reason,
    error,
    body,
    headers: {
      'x-rabbit-worker-queue': queue,
      'x-rabbit-worker-attempts': 5,
      'x-rabbit-worker-reason': reason,
      'content-type': 'application/json',
      tenant: 'acme',
    },
  };
}

/** A fresh world as of `now`. */
export function createWorld(now: number): FakeWorld {
  const types = (entries: Array<[string, number]>): Map<string, FakeType> =>
    new Map(entries.map(([name, desired]) => [name, { queue: name, file: `./workers/${name}.ts`, desired }]));
  const crash: LastExit = { code: 1, signal: null, at: iso(now - 95_000), description: 'code 1 after 0.4 s: Error: SMTP_URL is not set (exited too quickly)' };
  const recycled: LastExit = { code: 0, signal: null, at: iso(now - 1_200_000), description: 'code 0: ttl of 3600 s reached, recycled' };
  const web1: FakeHost = {
    id: 'h1',
    hostname: 'web-1',
    pid: 1234,
    config: '/srv/app/rabbit-worker.config.yaml',
    online: true,
    lastSeen: now,
    startedAt: now - 3 * 86_400_000 - 4 * 3_600_000,
    version: '0.2.0',
    types: types([['resize-image', 2], ['send-email', 2], ['generate-report', 1]]),
    processes: [
      proc('resize-image', 1, 'running', now, { restarts: 1, lastExit: recycled, inflightIds: ['img-4711'] }),
      proc('resize-image', 2, 'running', now),
      proc('send-email', 1, 'running', now, { rate: 9 }),
      proc('send-email', 2, 'backoff', now, { restarts: 3, lastExit: crash }),
      proc('generate-report', 1, 'fatal', now, {
        restarts: 5,
        lastExit: { code: 2, signal: null, at: iso(now - 600_000), description: 'code 2: configuration error (not restarted)' },
        fatalReason: 'exited with code 2 (usage or configuration error): memoryLimitMb must be a positive integer',
      }),
    ],
  };
  const web2: FakeHost = {
    id: 'h2',
    hostname: 'web-2',
    pid: 981,
    config: '/srv/app/rabbit-worker.config.yaml',
    online: false,
    lastSeen: now - 5 * 60_000,
    startedAt: now - 86_400_000,
    version: '0.2.0',
    types: types([['resize-image', 2], ['send-email', 1]]),
    processes: [
      proc('resize-image', 1, 'running', now, { pid: 7310 }),
      proc('resize-image', 2, 'starting', now, { pid: 7311, restarts: 2, lastExit: { code: null, signal: 'SIGKILL', at: iso(now - 310_000), description: 'killed by SIGKILL (out of memory?)' } }),
      proc('send-email', 1, 'running', now, { pid: 7312, memoryMb: null }),
    ],
  };
  const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
  return {
    selfId: 'h1',
    version: '0.2.0',
    hosts: [web1, web2],
    queues: [
      {
        name: 'resize-image', type: 'resize-image', ready: 148, unacked: 3, inRate: 12.5, outRate: 11.2, delayed: 4,
        dlq: [
          deadLetter('resize-image', 0, now, json({ imageId: 4711, url: 's3://uploads/cat.heic', sizes: [64, 256, 1024] }),
            'failed 5 times (maxAttempts 5); last error: unsupported format heic', 'Error: unsupported format heic\n    at decode (workers/resize-image.ts:42:11)\n    at ResizeImage.callback (workers/resize-image.ts:18:5)', 'img-4711'),
          deadLetter('resize-image', 1, now, Buffer.from('thumbnail please: photo-88.png (plain text, not JSON)'),
            'invalid JSON: Unexpected token h in JSON at position 1', null, 'img-0088'),
          deadLetter('resize-image', 2, now, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xfe]),
            'PermanentError: not an image request', 'PermanentError: not an image request\n    at ResizeImage.callback (workers/resize-image.ts:12:13)', 'img-bin-1'),
        ],
      },
      {
        name: 'send-email', type: 'send-email', ready: 0, unacked: 1, inRate: 3.1, outRate: 3.1, delayed: 0,
        dlq: [
          deadLetter('send-email', 0, now, json({ to: 'ops@example.com', template: 'welcome' }),
            'failed 5 times (maxAttempts 5); last error: 550 mailbox unavailable', 'Error: 550 mailbox unavailable', 'mail-1'),
          deadLetter('send-email', 1, now, json({ to: 'nobody@example.com', template: 'reset' }), 'schema: /to must be a known user, got <img src=x onerror="alert(1)">', null, null),
        ],
      },
      { name: 'generate-report', type: 'generate-report', ready: 27, unacked: 0, inRate: 0.2, outRate: 0, delayed: null, dlq: [] },
    ],
  };
}

/** Applies the time-driven transitions: starting → running, stopping → gone. */
export function advance(world: FakeWorld, now: number): void {
  for (const host of world.hosts.filter((h) => h.online)) {
    host.lastSeen = now;
    host.processes = host.processes.filter((p) => !(p.state === 'stopping' && now - p.changedAt >= TRANSITION_MS));
    for (const p of host.processes) {
      if (p.state === 'starting' && now - p.changedAt >= TRANSITION_MS) {
        p.state = 'running';
        p.changedAt = now;
      }
    }
  }
}

const processName = (p: FakeProcess): string => `${p.type}_${String(p.slot).padStart(2, '0')}`;

function processInfo(p: FakeProcess, now: number): ProcessInfo {
  const up = p.startedAt === null ? null : Math.max(0, Math.round((now - p.startedAt) / 1000));
  const handled = p.state === 'running' && up !== null ? Math.floor(up * p.rate) : 0;
  return {
    type: p.type,
    name: processName(p),
    state: p.state,
    pid: p.pid,
    uptimeSeconds: up,
    restarts: p.restarts,
    lastExit: p.lastExit,
    handled,
    handledTotal: p.handledBase + handled,
    inflight: p.state === 'running' ? p.inflightIds.length : null,
    inflightIds: p.inflightIds,
    workerState: p.state === 'running' ? 'consuming' : null,
    memoryMb: p.memoryMb,
    ...(p.fatalReason === undefined ? {} : { fatalReason: p.fatalReason }),
  };
}

/** The types of a host with their counts. */
export function typeInfos(host: FakeHost): TypeInfo[] {
  return [...host.types].map(([name, t]) => ({
    name,
    queue: t.queue,
    desired: t.desired,
    running: host.processes.filter((p) => p.type === name && p.state === 'running').length,
    fatal: host.processes.filter((p) => p.type === name && p.state === 'fatal').length,
  }));
}

/** A host as `/api/state` shows it; an offline host keeps its processes as last seen. */
export function hostInfo(host: FakeHost, selfId: string, now: number): HostInfo {
  const at = host.online ? now : host.lastSeen;
  return {
    id: host.id,
    hostname: host.hostname,
    pid: host.pid,
    config: host.config,
    online: host.online,
    self: host.id === selfId,
    lastSeen: host.lastSeen,
    uptimeSeconds: Math.round((at - host.startedAt) / 1000),
    version: host.version,
    types: typeInfos(host),
    processes: host.processes.map((p) => processInfo(p, at)),
  };
}

/** A queue as `/api/state` shows it; consumers are the running processes of online hosts. */
export function queueInfo(world: FakeWorld, q: FakeQueue): QueueInfo {
  const consumers = world.hosts
    .filter((h) => h.online)
    .flatMap((h) => h.processes)
    .filter((p) => p.type === q.type && p.state === 'running').length;
  return { name: q.name, type: q.type, ready: q.ready, unacked: q.unacked, consumers, inRate: q.inRate, outRate: q.outRate, delayed: q.delayed, dead: q.dlq.length };
}

/** Scales a type of a host to `n` processes: new slots start, the highest slots stop. */
export function scaleType(host: FakeHost, type: string, n: number, now: number): void {
  const t = host.types.get(type);
  if (t === undefined) throw new Error(`no type ${type}`);
  t.desired = n;
  const active = host.processes.filter((p) => p.type === type && p.state !== 'stopping').sort((a, b) => a.slot - b.slot);
  for (const p of active.slice(n)) Object.assign(p, { state: 'stopping', changedAt: now });
  for (let slot = active.length + 1; slot <= n; slot++) {
    host.processes.push(proc(type, slot, 'starting', now, { startedAt: now, changedAt: now, pid: 5000 + slot }));
  }
}

/** Restarts the fatal processes of a host, as a reload does; returns their names. */
export function retryFatal(host: FakeHost, now: number): string[] {
  const fatal = host.processes.filter((p) => p.state === 'fatal');
  for (const p of fatal) {
    Object.assign(p, { state: 'starting', changedAt: now, startedAt: now, pid: 6000 + p.slot, restarts: p.restarts + 1 });
    delete p.fatalReason;
  }
  return fatal.map(processName);
}

/** UTF-8 text when the body decodes as such, else base64. */
export function deadLetterInfo(d: FakeDeadLetter): DeadLetterInfo {
  let text: string | undefined;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(d.body);
  } catch {
    text = undefined;
  }
  return {
    messageId: d.messageId,
    attempts: d.attempts,
    failedAt: d.failedAt,
    firstFailedAt: d.firstFailedAt,
    reason: d.reason,
    error: d.error,
    bodyEncoding: text === undefined ? 'base64' : 'utf8',
    body: text ?? d.body.toString('base64'),
    bodyBytes: d.body.length,
    headers: d.headers,
  };
}

/** Whether a dead letter matches a search: its message id, or text in its body, reason or error. */
export function matches(d: FakeDeadLetter, q: string): boolean {
  const needle = q.trim().toLowerCase();
  if (needle === '') return true;
  const info = deadLetterInfo(d);
  const haystack = [d.messageId, d.reason, d.error, info.bodyEncoding === 'utf8' ? info.body : null];
  return haystack.some((s) => s !== null && s.toLowerCase().includes(needle));
}

/** A deterministic pseudo-random generator (mulberry32), seeded by the queue name. */
function random(seedText: string): () => number {
  let seed = [...seedText].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261) >>> 0;
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The last hour of a queue in 10 s steps; a gap of unknown latencies where no message was handled. */
export function seriesOf(queue: FakeQueue, now: number): Series {
  const step = 10_000;
  const rnd = random(queue.name);
  const last = Math.floor(now / step) * step;
  const points: SeriesPoint[] = [];
  for (let i = 0; i < 360; i++) {
    const wave = 1 + 0.6 * Math.sin(i / 40) + 0.25 * Math.sin(i / 7);
    const idle = i >= 120 && i < 132;
    const acked = idle ? 0 : Math.round(queue.outRate * 10 * wave * (0.8 + rnd() * 0.4));
    const p50 = 12 + 6 * wave + rnd() * 4;
    points.push({
      t: last - (359 - i) * step,
      acked,
      retried: idle || rnd() < 0.8 ? 0 : Math.ceil(rnd() * 4),
      deadLettered: idle || rnd() < 0.93 ? 0 : 1,
      p50Ms: idle ? null : Math.round(p50 * 10) / 10,
      p95Ms: idle ? null : Math.round(p50 * (2.2 + rnd()) * 10) / 10,
      ready: idle ? null : Math.round(queue.ready * wave),
    });
  }
  return { stepSeconds: step / 1000, points };
}
