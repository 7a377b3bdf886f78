import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.js';
import type { ReloadSummary, SupervisorStatus, TypeStatus } from './supervisor.js';

/** What the control endpoint drives: the supervisor, and a reload that reads the config file again. */
export interface ControlTarget {
  status(): SupervisorStatus;
  scale(type: string, n: number): TypeStatus;
  reload(): Promise<ReloadSummary>;
}

const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  // A browser cannot send application/json to another origin without a preflight, which is never answered:
  // requiring it keeps web pages from driving the endpoint (it listens on loopback, without authentication).
  const type = request.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) throw new HttpError(415, 'send Content-Type: application/json');
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

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

async function route(target: ControlTarget, request: IncomingMessage): Promise<[number, unknown]> {
  const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
  const method = request.method ?? 'GET';
  if (path === '/status' || path === '/') {
    if (method !== 'GET') throw new HttpError(405, 'use GET /status');
    return [200, target.status()];
  }
  if (path === '/scale') {
    if (method !== 'POST') throw new HttpError(405, 'use POST /scale {"type": "…", "n": 2}');
    const body = (await readJson(request)) as { type?: unknown; n?: unknown };
    if (typeof body.type !== 'string' || typeof body.n !== 'number') throw new HttpError(400, 'expected {"type": "<worker type>", "n": <process count>}');
    try {
      return [200, target.scale(body.type, body.n)];
    } catch (error) {
      throw new HttpError(/unknown worker type/.test((error as Error).message) ? 404 : 409, (error as Error).message);
    }
  }
  if (path === '/reload') {
    if (method !== 'POST') throw new HttpError(405, 'use POST /reload');
    await readJson(request);
    try {
      return [200, await target.reload()];
    } catch (error) {
      throw new HttpError(error instanceof ConfigError ? 422 : 409, (error as Error).message);
    }
  }
  throw new HttpError(404, 'not found: GET /status, POST /scale, POST /reload');
}

/** The control endpoint: JSON over HTTP on 127.0.0.1 only. */
export async function startControlServer(target: ControlTarget, port: number, host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    route(target, request).then(
      ([status, body]) => send(response, status, body),
      (error: unknown) => send(response, error instanceof HttpError ? error.status : 500, { error: error instanceof Error ? error.message : String(error) }),
    );
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new ConfigError(`control port ${port} on ${host} is in use (another supervisor?): set control.port in the config file`)
          : error,
      );
    });
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
