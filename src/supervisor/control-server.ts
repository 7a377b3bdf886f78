import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ErrorCode } from '../errors.js';
import { closeServer, HttpError, listen, sendBody, sendError, sendJson } from '../http/respond.js';
import type { Logger } from '../log/logger.js';
import { PROMETHEUS_CONTENT_TYPE } from '../metrics/names.js';
import { ControlAuth, type Credential } from './control-auth.js';
import { DashboardFiles } from './dashboard-files.js';
import { hostAllowed } from './host-check.js';
import { readiness } from './readiness.js';
import type { ReloadSummary, SupervisorStatus, TypeStatus } from './supervisor.js';

/** What the control endpoint drives: the supervisor, a reload that reads the config file again, its metrics. */
export interface ControlTarget {
  status(): SupervisorStatus;
  scale(type: string, n: number): TypeStatus;
  reload(): Promise<ReloadSummary>;
  /** Prometheus text. */
  metrics(): Promise<string>;
}

/** A signed-in request under `/api/`, its body parsed. */
export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  credential: Credential;
  /** Fires when the client goes away (an event stream ends with it). */
  closed: AbortSignal;
}

/** The dashboard's API (dashboard-api.ts): answers what it knows, false for anything else. */
export interface ApiRoutes {
  handle(request: ApiRequest, response: ServerResponse): Promise<boolean>;
}

export interface ControlServerOptions {
  target: ControlTarget;
  /** The address to bind. */
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Extra names the endpoint answers to (a reverse proxy's, a host name when bound to all interfaces). */
  allowedHosts: readonly string[];
  /** Every write answers 403. */
  readOnly: boolean;
  auth: ControlAuth;
  api?: ApiRoutes;
  logger?: Logger;
}

const MAX_BODY = 64 * 1024;
/** The routes open to anyone who can reach the endpoint: probes and metrics, read-only by nature. */
const OPEN_PATHS = new Set(['/metrics', '/healthz', '/readyz']);

/**
 * The supervisor's HTTP endpoint (`control.host`:`control.port`). Every request must name the endpoint by
 * an allowed `Host` (DNS rebinding). Open: `GET /metrics`, `/healthz`, `/readyz`, the dashboard's files
 * (they are in the npm package anyway) and `/login`. Everything else needs the token as
 * `Authorization: Bearer` (the CLI) or a session cookie that a one-time login link set (the page). Writes
 * are POSTs with `Content-Type: application/json` (which a cross-site form cannot send), from the same
 * origin when the browser says one, and none at all with `readOnly`. Tokens are never logged.
 */
export class ControlServer {
  readonly #options: ControlServerOptions;
  readonly #server: Server;
  readonly #files = new DashboardFiles();
  #port = 0;

  private constructor(options: ControlServerOptions) {
    this.#options = options;
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => sendError(response, error));
    });
    this.#server.keepAliveTimeout = 5_000;
  }

  /** Listens; a port in use is a ConfigError naming `control.port`. */
  static async start(options: ControlServerOptions): Promise<ControlServer> {
    const server = new ControlServer(options);
    server.#port = await listen(server.#server, options.port, options.host, 'control.port');
    return server;
  }

  get port(): number {
    return this.#port;
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { target, auth } = this.#options;
    if (!hostAllowed(request.headers.host, { host: this.#options.host, port: this.#port }, this.#options.allowedHosts)) {
      throw new HttpError(403, `this endpoint does not answer to Host "${request.headers.host ?? ''}": use ${this.#options.host}:${this.#port} or localhost:${this.#port}, or add the name to control.allowedHosts`);
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = request.method ?? 'GET';

    if (OPEN_PATHS.has(path)) {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `use GET ${path}`);
      if (path === '/healthz') return sendJson(response, 200, { status: 'ok' });
      if (path === '/metrics') return sendBody(response, 200, PROMETHEUS_CONTENT_TYPE, await target.metrics());
      const ready = readiness(target.status());
      return sendJson(response, ready.ready ? 200 : 503, ready.ready ? { ready: true, types: ready.types } : { ready: false, reason: ready.reasons.join('; '), types: ready.types });
    }
    if (path === '/login') return this.#login(url, response);
    if (method === 'GET' && !path.startsWith('/api/') && path !== '/status') {
      const file = await this.#files.get(path);
      if (file !== undefined) return sendBody(response, 200, file.type, file.body, { 'cache-control': 'no-cache' });
    }

    const credential = auth.check(request);
    if (credential === undefined) {
      throw new HttpError(401, request.headers.authorization === undefined ? 'not signed in: run `rabbit-worker dashboard` on the host for a login link (the CLI sends the token from its file)' : 'wrong token', { 'www-authenticate': 'Bearer' });
    }
    let body: unknown;
    if (method === 'POST') {
      this.#checkWrite(request);
      body = await readJson(request);
    } else if (method !== 'GET') throw new HttpError(405, 'use GET or POST');

    if (path === '/status' && method === 'GET') return sendJson(response, 200, target.status());
    if (path === '/scale' && method === 'POST') return sendJson(response, 200, this.#scale(body));
    if (path === '/reload' && method === 'POST') return sendJson(response, 200, await reloadOf(target));
    if (path === '/api/login-tokens' && method === 'POST') {
      // a login link is bought with the token itself, never with a session
      if (credential !== 'token') throw new HttpError(403, 'login links are issued to the token holder only');
      return sendJson(response, 200, { token: auth.issueLogin() });
    }
    if (path === '/api/scale' && method === 'POST') return sendJson(response, 200, this.#scale(body));
    if (path === '/api/reload' && method === 'POST') return sendJson(response, 200, await reloadOf(target));
    const closed = new AbortController();
    response.on('close', () => closed.abort());
    if (path.startsWith('/api/') && (await this.#options.api?.handle({ method, path, query: url.searchParams, body, credential, closed: closed.signal }, response)) === true) return;
    throw new HttpError(404, `no route ${method} ${path}`);
  }

  #login(url: URL, response: ServerResponse): void {
    const session = this.#options.auth.redeem(url.searchParams.get('token') ?? '');
    if (session === undefined) {
      sendBody(response, 401, 'text/plain; charset=utf-8', 'This login link is invalid, expired or already used: run `rabbit-worker dashboard` on the host for a new one.\n');
      return;
    }
    // the token leaves the address bar (and the history) at once
    response.writeHead(302, { location: '/', 'set-cookie': ControlAuth.sessionCookie(session), 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).end();
  }

  #checkWrite(request: IncomingMessage): void {
    if (this.#options.readOnly) throw new HttpError(403, 'the control endpoint is read-only (control.readOnly)');
    // A browser cannot send application/json to another origin without a preflight, which is never answered.
    const type = request.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) throw new HttpError(415, 'send Content-Type: application/json');
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== 'null') {
      let originHost: string;
      try {
        originHost = new URL(origin).host;
      } catch {
        throw new HttpError(403, 'malformed Origin');
      }
      if (originHost !== request.headers.host) throw new HttpError(403, `a write from another origin (${origin}) is refused`);
    }
  }

  #scale(body: unknown): TypeStatus {
    const { type, n } = (body ?? {}) as { type?: unknown; n?: unknown };
    if (typeof type !== 'string' || typeof n !== 'number') throw new HttpError(422, 'expected {"type": "<worker type>", "n": <process count>}');
    try {
      return this.#options.target.scale(type, n);
    } catch (error) {
      throw asHttpError(error);
    }
  }
}

async function reloadOf(target: ControlTarget): Promise<ReloadSummary> {
  try {
    return await target.reload();
  } catch (error) {
    throw asHttpError(error);
  }
}

/** A supervisor error as an HTTP answer, by its code. */
function asHttpError(error: unknown): HttpError {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === ErrorCode.UNKNOWN_WORKER_TYPE) return new HttpError(404, message);
  if (code === ErrorCode.CONFIG_INVALID) return new HttpError(422, message);
  return new HttpError(409, message);
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
}
