import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ConfigError } from '../errors.js';

/**
 * Small HTTP pieces shared by the supervisor's control endpoint and a worker's own `--http-port` endpoint:
 * answers with the security headers every response carries, and listening with a clear error.
 */

/** The dashboard's policy: nothing but this origin, no inline script or style, never framed. */
export const CONTENT_SECURITY_POLICY = "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Headers on every answer, JSON and files alike. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
};

/** An error answered as `{ "error": message }` with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Answers JSON (never cached). */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const text = `${JSON.stringify(body, null, 2)}\n`;
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

/** Answers text or bytes with `contentType`. */
export function sendBody(response: ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...headers });
  response.end(body);
}

/** Answers an error thrown by a route: its status for an {@link HttpError}, 500 otherwise. */
export function sendError(response: ServerResponse, error: unknown): void {
  if (error instanceof HttpError) sendJson(response, error.status, { error: error.message }, error.headers);
  else sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) });
}

/** The path of a request, without its query. */
export const pathOf = (request: IncomingMessage): string => new URL(request.url ?? '/', 'http://localhost').pathname;

/** Listens on `host:port`; a port in use is a {@link ConfigError} naming `setting`. Resolves with the port bound. */
export async function listen(server: Server, port: number, host: string, setting: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(error.code === 'EADDRINUSE' ? new ConfigError(`port ${port} on ${host} is in use (${setting}): choose another`) : error.code === 'EADDRNOTAVAIL' ? new ConfigError(`cannot listen on ${host} (${setting}): no such local address`) : error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : port;
}

/** Closes a server and every connection it holds (event streams included). */
export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
