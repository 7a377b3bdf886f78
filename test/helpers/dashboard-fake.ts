import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DashboardState, ReloadResult, ReplayResult } from './dashboard-contract.js';
import { advance, createWorld, deadLetterInfo, hostInfo, matches, queueInfo, retryFatal, scaleType, seriesOf, typeInfos, type FakeQueue, type FakeWorld } from './dashboard-fake-data.js';
import { ROOT } from './process.js';

/**
 * A stand-in for the control server of `rabbit-worker supervise`, as far as the dashboard sees it: serves
 * the files of `dashboard/` and implements the API of `dashboard-contract.ts` on the in-memory world of
 * `dashboard-fake-data.ts`, applying writes to it. Every response carries the strict CSP the real server
 * sends, so a page that needs an inline script or style fails its test. Requests are recorded for tests.
 */

/** The Content-Security-Policy of the real control server. */
export const CSP = "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'";

const SESSION_COOKIE = 'rw_session';
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Options of {@link FakeDashboardServer.start}. */
export interface FakeDashboardOptions {
  /** When set, the API answers 401 until `/login?token=<token>` set the session cookie. @default undefined (signed in) */
  token?: string;
  /** Every write answers 403, and the state says `readOnly: true`. @default false */
  readOnly?: boolean;
  /** Milliseconds between two `state` events. @default 2000 */
  eventIntervalMs?: number;
  /** The server's clock. @default Date.now */
  now?: () => number;
  /** Loopback port to listen on. @default 0 (any free port) */
  port?: number;
}

/** One API request as the fake received it. */
export interface RecordedRequest {
  method: string;
  /** The decoded path, e.g. `/api/dead-letters/resize-image/replay`. */
  path: string;
  query: Record<string, string>;
  /** The parsed JSON body of a POST, else undefined. */
  body: unknown;
  contentType: string | undefined;
}

/** An error answered as `{ "error": message }` with `status`. */
class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class FakeDashboardServer {
  /** Every request to `/api/…`, in order. */
  readonly requests: RecordedRequest[] = [];
  readonly world: FakeWorld;
  /** Said in the state; writes answer 403. */
  readOnly: boolean;
  /** Writes answer 403 although the state does not say read-only (a session without write rights). */
  denyWrites = false;
  /** `state` events sent so far, on every stream. */
  eventsSent = 0;
  #server: Server;
  #options: Required<Omit<FakeDashboardOptions, 'token' | 'port'>> & { token: string | undefined };
  #sessions = new Set<string>();
  #streams = new Set<ServerResponse>();
  #eventsDown = false;
  #timer: NodeJS.Timeout;

  private constructor(options: FakeDashboardOptions) {
    this.#options = { token: options.token, readOnly: options.readOnly ?? false, eventIntervalMs: options.eventIntervalMs ?? 2_000, now: options.now ?? Date.now };
    this.readOnly = this.#options.readOnly;
    this.world = createWorld(this.#options.now());
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        const status = error instanceof HttpError ? error.status : 500;
        this.#json(res, status, { error: error instanceof Error ? error.message : String(error) });
      });
    });
    this.#timer = setInterval(() => this.broadcast(), this.#options.eventIntervalMs);
  }

  /** Starts a fake on a free loopback port. */
  static async start(options: FakeDashboardOptions = {}): Promise<FakeDashboardServer> {
    const fake = new FakeDashboardServer(options);
    await new Promise<void>((resolve, reject) => {
      fake.#server.once('error', reject);
      fake.#server.listen(options.port ?? 0, '127.0.0.1', resolve);
    });
    return fake;
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** The recorded requests with this method and exact path. */
  requestsTo(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  /** The state as `/api/state` answers it now. */
  state(): DashboardState {
    const now = this.#options.now();
    advance(this.world, now);
    return {
      self: this.world.selfId,
      readOnly: this.readOnly,
      version: this.world.version,
      now,
      hosts: this.world.hosts.map((h) => hostInfo(h, this.world.selfId, now)),
      queues: this.world.queues.map((q) => queueInfo(this.world, q)),
      delayed: this.world.queues.reduce((n, q) => n + (q.delayed ?? 0), 0),
    };
  }

  /** Sends a `state` event to every open stream now (the timer also does, every `eventIntervalMs`). */
  broadcast(): void {
    if (this.#streams.size === 0) return;
    const frame = `event: state\ndata: ${JSON.stringify(this.state())}\n\n`;
    for (const res of this.#streams) res.write(frame);
    this.eventsSent += this.#streams.size;
  }

  /** Drops the open event streams and answers new ones 503 while `down`; the page should say so. */
  setEventsDown(down: boolean): void {
    this.#eventsDown = down;
    if (down) for (const res of this.#streams) res.destroy();
  }

  /** Number of open event streams. */
  get streams(): number {
    return this.#streams.size;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const res of this.#streams) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('content-security-policy', CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    if (url.pathname === '/login') return this.#login(url, res);
    if (!url.pathname.startsWith('/api/')) return this.#static(url.pathname, res);

    const body = method === 'POST' ? await readJson(req) : undefined;
    const path = url.pathname;
    this.requests.push({ method, path: decodeURIComponent(path), query: Object.fromEntries(url.searchParams), body, contentType: req.headers['content-type'] });
    if (!this.#signedIn(req)) throw new HttpError(401, 'not signed in: run `rabbit-worker dashboard` on the host for a login link');
    if (method === 'POST') {
      if (this.readOnly || this.denyWrites) throw new HttpError(403, 'the dashboard is read-only (control.readOnly)');
      if (req.headers['content-type'] !== 'application/json') throw new HttpError(422, 'content-type must be application/json');
    }

    const route = `${method} ${path}`;
    if (route === 'GET /api/state') return this.#json(res, 200, this.state());
    if (route === 'GET /api/events') return this.#events(res);
    if (route === 'GET /api/series') return this.#json(res, 200, seriesOf(this.#queue(url.searchParams.get('queue') ?? ''), this.#options.now()));
    if (route === 'POST /api/scale') return this.#json(res, 200, this.#scale(body));
    if (route === 'POST /api/reload') return this.#json(res, 200, this.#reload());
    const dead = /^\/api\/dead-letters\/([^/]+)(?:\/(replay|purge))?$/.exec(path);
    if (dead !== null) {
      const queue = this.#queue(decodeURIComponent(dead[1] ?? ''));
      const action = dead[2];
      if (action === undefined && method === 'GET') return this.#json(res, 200, this.#listDead(queue, url.searchParams));
      if (action === 'replay' && method === 'POST') return this.#json(res, 200, this.#replay(queue, body));
      if (action === 'purge' && method === 'POST') return this.#json(res, 200, this.#purge(queue, body));
    }
    throw new HttpError(404, `no route ${route}`);
  }

  #signedIn(req: IncomingMessage): boolean {
    if (this.#options.token === undefined) return true;
    const cookie = (req.headers.cookie ?? '').split(';').map((c) => c.trim().split('=')).find(([name]) => name === SESSION_COOKIE);
    return cookie?.[1] !== undefined && this.#sessions.has(cookie[1]);
  }

  /** `/login?token=…`: a one-time token for an HttpOnly session cookie, then the dashboard. */
  #login(url: URL, res: ServerResponse): void {
    if (this.#options.token === undefined || url.searchParams.get('token') !== this.#options.token) {
      res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' }).end('invalid or used login token\n');
      return;
    }
    const session = randomBytes(24).toString('base64url');
    this.#sessions.add(session);
    res.writeHead(302, { location: '/', 'set-cookie': `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/` }).end();
  }

  async #static(pathname: string, res: ServerResponse): Promise<void> {
    const name = pathname === '/' ? 'index.html' : pathname.slice(1);
    // only plain file names of dashboard/: nothing above it can be reached
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(name) || MIME[extname(name)] === undefined) throw new HttpError(404, 'not found');
    let content: Buffer;
    try {
      content = await readFile(join(ROOT, 'dashboard', name));
    } catch {
      throw new HttpError(404, 'not found');
    }
    res.writeHead(200, { 'content-type': MIME[extname(name)], 'cache-control': 'no-cache' }).end(content);
  }

  #events(res: ServerResponse): void {
    if (this.#eventsDown) throw new HttpError(503, 'event stream unavailable');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`event: state\ndata: ${JSON.stringify(this.state())}\n\n`);
    this.eventsSent += 1;
    this.#streams.add(res);
    res.on('close', () => this.#streams.delete(res));
  }

  #queue(name: string): FakeQueue {
    const queue = this.world.queues.find((q) => q.name === name);
    if (queue === undefined) throw new HttpError(404, `no queue ${JSON.stringify(name)}`);
    return queue;
  }

  #selfHost(): FakeWorld['hosts'][number] {
    const host = this.world.hosts.find((h) => h.id === this.world.selfId);
    if (host === undefined) throw new Error('the fake world has no self host');
    return host;
  }

  #scale(body: unknown): unknown {
    const { type, n } = (body ?? {}) as { type?: unknown; n?: unknown };
    const host = this.#selfHost();
    if (typeof type !== 'string' || !host.types.has(type)) throw new HttpError(404, `no worker type ${JSON.stringify(type)}`);
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 64) throw new HttpError(422, 'n must be an integer from 0 to 64');
    scaleType(host, type, n, this.#options.now());
    const info = typeInfos(host).find((t) => t.name === type);
    return { name: type, file: host.types.get(type)?.file, desired: n, running: info?.running ?? 0, fatal: info?.fatal ?? 0 };
  }

  #reload(): ReloadResult {
    return { added: [], removed: [], restarted: [], scaled: [], retried: retryFatal(this.#selfHost(), this.#options.now()) };
  }

  #listDead(queue: FakeQueue, params: URLSearchParams): unknown {
    const limit = Number(params.get('limit') ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(422, 'limit must be an integer from 1 to 1000');
    const q = params.get('q') ?? '';
    const messages = queue.dlq.filter((d) => matches(d, q)).slice(0, limit).map(deadLetterInfo);
    return { queue: queue.name, depth: queue.dlq.length, messages };
  }

  #replay(queue: FakeQueue, body: unknown): ReplayResult {
    const { ids, all } = (body ?? {}) as { ids?: unknown; all?: unknown };
    let chosen: typeof queue.dlq;
    let missingIds: string[] = [];
    if (all === true) chosen = [...queue.dlq];
    else if (Array.isArray(ids) && ids.length > 0 && ids.every((id) => typeof id === 'string')) {
      chosen = queue.dlq.filter((d) => d.messageId !== null && ids.includes(d.messageId));
      missingIds = (ids as string[]).filter((id) => !chosen.some((d) => d.messageId === id));
    } else throw new HttpError(422, 'give { "ids": [...] } or { "all": true }');
    queue.dlq = queue.dlq.filter((d) => !chosen.includes(d));
    queue.ready += chosen.length;
    return { replayed: chosen.length, remaining: queue.dlq.length, missingIds };
  }

  #purge(queue: FakeQueue, body: unknown): unknown {
    const { confirm } = (body ?? {}) as { confirm?: unknown };
    if (confirm !== queue.name) throw new HttpError(422, `confirm must be the queue name ${JSON.stringify(queue.name)}`);
    const purged = queue.dlq.length;
    queue.dlq = [];
    return { purged };
  }

  #json(res: ServerResponse, status: number, value: unknown): void {
    if (res.headersSent) return void res.destroy();
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(value));
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(422, 'the body is not JSON');
  }
}

// `node --import tsx test/helpers/dashboard-fake.ts [port]`: the fake alone, to look at the page by hand
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const fake = await FakeDashboardServer.start({ port: Number(process.argv[2] ?? 9325) });
  console.log(`fake control server on ${fake.url}/ (no sign-in needed; Ctrl-C stops it)`);
}
