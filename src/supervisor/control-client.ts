import { Deadline } from '../deadline.js';
import { ErrorCode, RabbitWorkerError } from '../errors.js';
import { loadConfig } from './config.js';
import { readTokenFile, TOKEN_ENV, tokenFile } from './control-token.js';
import type { ReloadSummary, SupervisorStatus, TypeStatus } from './supervisor.js';

/** The supervisor is not listening where the config file says. Exit code 1 (nothing to fix in the config). */
export class SupervisorUnreachableError extends RabbitWorkerError {
  constructor(message: string) {
    super(ErrorCode.SUPERVISOR_UNREACHABLE, message);
  }
}

/** The endpoint answered 401 or 403: no token, a wrong one, read-only, or a foreign Host. */
export class ControlRefusedError extends RabbitWorkerError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(ErrorCode.CONTROL_REFUSED, message);
  }
}

/** Where a supervisor listens, and the token to show it. */
export interface ControlAddress {
  /** `http://host:port` */
  base: string;
  /** Undefined when none was found: the request then gets a 401 that says so. */
  token: string | undefined;
}

/**
 * Where the supervisor started with this config listens (found through the config file, as the docs
 * promise), and its token: `RABBIT_WORKER_TOKEN`, else the config's `control.token`, else the token file
 * the supervisor wrote for that address (readable by the user who runs it only).
 */
export async function controlAddress(config?: string, port?: number, env: NodeJS.ProcessEnv = process.env): Promise<ControlAddress> {
  const fromEnv = env[TOKEN_ENV]?.trim();
  if (port !== undefined) return { base: `http://127.0.0.1:${port}`, token: fromEnv || readTokenFile(tokenFile('127.0.0.1', port, env)) };
  const loaded = await loadConfig(config);
  const host = loaded.control.host === '0.0.0.0' || loaded.control.host === '::' ? '127.0.0.1' : loaded.control.host;
  const token = fromEnv || loaded.control.token || readTokenFile(tokenFile(loaded.control.host, loaded.control.port, env));
  return { base: `http://${host.includes(':') ? `[${host}]` : host}:${loaded.control.port}`, token };
}

async function request<T>(address: ControlAddress, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const { base, token } = address;
  const deadline = new Deadline(10_000, () => new Error('no answer within 10 s'));
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: deadline.signal,
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new SupervisorUnreachableError(`no supervisor answers at ${base} (${cause}): is "rabbit-worker supervise" running with this config?`);
  } finally {
    deadline.clear();
  }
  const data = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (response.status === 401) {
    throw new ControlRefusedError(401, `supervisor at ${base} refused: ${token === undefined ? `no token found (run this as the user who runs the supervisor, or set ${TOKEN_ENV})` : 'wrong token'}`);
  }
  if (response.status === 403) throw new ControlRefusedError(403, `supervisor at ${base} refused: ${data.error ?? 'forbidden'}`);
  if (!response.ok) throw new Error(`supervisor at ${base}: ${data.error ?? `HTTP ${response.status}`}`);
  return data;
}

export const getStatus = (address: ControlAddress): Promise<SupervisorStatus> => request(address, 'GET', '/status');
export const postScale = (address: ControlAddress, type: string, n: number): Promise<TypeStatus> => request(address, 'POST', '/scale', { type, n });
export const postReload = (address: ControlAddress): Promise<ReloadSummary> => request(address, 'POST', '/reload', {});
/** A one-time login token for the dashboard. */
export const postLoginToken = (address: ControlAddress): Promise<{ token: string }> => request(address, 'POST', '/api/login-tokens', {});
