/**
 * The JSON contract between the dashboard page (`dashboard/`) and the control server of
 * `rabbit-worker supervise`, written down as types: the real server (dashboard-api.ts) answers these
 * shapes, and so does the fake of the page's tests (`test/helpers/dashboard-fake.ts`). Numbers are `null` when unknown (the page
 * shows "–").
 *
 * Routes (every write is a POST with a JSON body and `content-type: application/json`; auth is a cookie
 * that `/login?token=…` sets, the page never sees a token):
 * - `GET /api/state` → {@link DashboardState}
 * - `GET /api/events` → `text/event-stream`: `event: state` + `data: <DashboardState>` on connect, then
 *   about every 2 s
 * - `GET /api/series?queue=<name>` → {@link Series}
 * - `GET /api/dead-letters/<queue>?limit=100&q=<text>` → {@link DeadLetterList}
 * - `POST /api/dead-letters/<queue>/replay` {@link ReplayRequest} → {@link ReplayResult}
 * - `POST /api/dead-letters/<queue>/purge` {@link PurgeRequest} → {@link PurgeResult}
 * - `POST /api/scale` {@link ScaleRequest} → {@link ScaleResult}
 * - `POST /api/reload` `{}` → {@link ReloadResult}
 * - errors: any non-2xx with {@link ApiErrorBody}: 401 not signed in, 403 read-only or forbidden, 404,
 *   409, 422. Queue names in paths are URL-encoded.
 */

/** What supervisord calls a process state, lower-cased. */
export type ProcessState = 'starting' | 'running' | 'backoff' | 'stopping' | 'exited' | 'fatal';

/** How the last run of a process ended. */
export interface LastExit {
  code: number | null;
  signal: string | null;
  /** ISO time. */
  at: string;
  /** One line for people, e.g. "code 1 after 0.4 s (exited too quickly)". */
  description: string;
}

/** One supervised worker process. */
export interface ProcessInfo {
  type: string;
  /** `<type>_NN`. */
  name: string;
  state: ProcessState;
  pid: number | null;
  uptimeSeconds: number | null;
  restarts: number;
  lastExit: LastExit | null;
  /** Messages handled by the current run of the process. */
  handled: number | null;
  /** Messages handled by every run of this process slot. */
  handledTotal: number | null;
  inflight: number | null;
  inflightIds: string[];
  /** What the worker itself reports (running, draining, …); free text. */
  workerState: string | null;
  memoryMb: number | null;
  /** Why the supervisor gave up, when `state` is fatal. */
  fatalReason?: string;
}

/** One worker type of a host's configuration. */
export interface TypeInfo {
  name: string;
  queue: string;
  desired: number;
  running: number;
  fatal: number;
}

/** One supervisor, this one or a peer seen through the broker. */
export interface HostInfo {
  id: string;
  hostname: string;
  pid: number;
  /** Path of the configuration file. */
  config: string;
  online: boolean;
  /** True for the host that serves this page: only it accepts scale and reload. */
  self: boolean;
  /** Epoch ms of the last report. */
  lastSeen: number;
  uptimeSeconds: number;
  version: string;
  types: TypeInfo[];
  processes: ProcessInfo[];
}

/** One work queue. */
export interface QueueInfo {
  name: string;
  /** The worker type that consumes it. */
  type: string;
  ready: number | null;
  unacked: number | null;
  consumers: number | null;
  /** Messages per second. */
  inRate: number | null;
  outRate: number | null;
  /**
   * Messages waiting in the delay (retry) queues for this queue. The delay levels are shared by every queue,
   * so this is unknowable without consuming them: the real server says null and gives the total in
   * {@link DashboardState.delayed}.
   */
  delayed: number | null;
  /** Depth of `<queue>.dlq`. */
  dead: number | null;
}

/** `GET /api/state`, and the data of every `state` event. */
export interface DashboardState {
  /** The id of the host serving this page. */
  self: string;
  readOnly: boolean;
  version: string;
  /** Epoch ms on the server's clock. */
  now: number;
  hosts: HostInfo[];
  queues: QueueInfo[];
  /** Messages waiting in the shared delay levels, every queue together; null when unknown. */
  delayed: number | null;
}

/** One step of a queue's history. */
export interface SeriesPoint {
  /** Epoch ms of the start of the step. */
  t: number;
  acked: number;
  retried: number;
  deadLettered: number;
  p50Ms: number | null;
  p95Ms: number | null;
  ready: number | null;
}

/** `GET /api/series?queue=<name>`: the last hour, at most 360 points, oldest first. */
export interface Series {
  stepSeconds: number;
  points: SeriesPoint[];
}

/** One message of `<queue>.dlq`. */
export interface DeadLetterInfo {
  messageId: string | null;
  attempts: number | null;
  /** ISO time of the last failure. */
  failedAt: string | null;
  firstFailedAt: string | null;
  reason: string | null;
  error: string | null;
  /** utf8 when the body is valid UTF-8 text, else base64. */
  bodyEncoding: 'utf8' | 'base64';
  body: string;
  bodyBytes: number;
  headers: Record<string, unknown>;
}

/** `GET /api/dead-letters/<queue>`. */
export interface DeadLetterList {
  queue: string;
  /** Every message of the dead-letter queue, matching or not. */
  depth: number;
  messages: DeadLetterInfo[];
}

/** Either some message ids or all. */
export type ReplayRequest = { ids: string[] } | { all: true };

export interface ReplayResult {
  replayed: number;
  remaining: number;
  missingIds: string[];
}

/** `confirm` must be the queue name, typed by the user. */
export interface PurgeRequest {
  confirm: string;
}

export interface PurgeResult {
  purged: number;
}

export interface ScaleRequest {
  type: string;
  n: number;
}

export interface ScaleResult {
  name: string;
  /** The worker file of the type. */
  file: string;
  desired: number;
  running: number;
  fatal: number;
}

/** Process names or type names touched by a reload, by what happened to them. */
export interface ReloadResult {
  added: string[];
  removed: string[];
  restarted: string[];
  scaled: string[];
  retried: string[];
}

export interface ApiErrorBody {
  error: string;
}
