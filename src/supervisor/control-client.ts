import { ErrorCode, RabbitWorkerError } from '../errors.js';
import { loadConfig } from './config.js';
import type { ReloadSummary, SupervisorStatus, TypeStatus } from './supervisor.js';

/** The supervisor is not listening where the config file says. Exit code 1 (nothing to fix in the config). */
export class SupervisorUnreachableError extends RabbitWorkerError {
  constructor(message: string) {
    super(ErrorCode.SUPERVISOR_UNREACHABLE, message);
  }
}

/** Where a supervisor started with this config listens: found through the config file, as the docs promise. */
export async function controlAddress(config?: string, port?: number): Promise<string> {
  if (port !== undefined) return `http://127.0.0.1:${port}`;
  const loaded = await loadConfig(config);
  return `http://${loaded.control.host}:${loaded.control.port}`;
}

async function request<T>(base: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new SupervisorUnreachableError(`no supervisor answers at ${base} (${cause}): is "rabbit-worker supervise" running with this config?`);
  }
  const data = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new Error(`supervisor at ${base}: ${data.error ?? `HTTP ${response.status}`}`);
  return data;
}

export const getStatus = (base: string): Promise<SupervisorStatus> => request(base, 'GET', '/status');
export const postScale = (base: string, type: string, n: number): Promise<TypeStatus> => request(base, 'POST', '/scale', { type, n });
export const postReload = (base: string): Promise<ReloadSummary> => request(base, 'POST', '/reload', {});
