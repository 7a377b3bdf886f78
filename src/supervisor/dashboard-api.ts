import type { ServerResponse } from 'node:http';
import { bodyOf, listDeadLetters, purgeDeadLetters, replayDeadLetters, type DeadLetter } from '../broker/dead-letters.js';
import { ErrorCode } from '../errors.js';
import { HttpError, SECURITY_HEADERS, sendJson } from '../http/respond.js';
import type { ApiRequest, ApiRoutes } from './control-server.js';
import type { DashboardState, DeadLetterInfo, DeadLetterList, PurgeResult, ReplayResult, Series } from './dashboard-contract.js';
import type { SupervisorBroker } from './supervisor-broker.js';

/** A state event this often on every open stream. */
export const EVENT_INTERVAL_MS = 2_000;
/** A search reads at most this many dead letters from the head of the queue. */
const SEARCH_SCAN = 1_000;
/** How long a list waits for a counted dead letter that another client holds unacked. */
const LIST_IDLE_MS = 1_500;

export interface DashboardApiOptions {
  state: () => DashboardState;
  series: (queue: string) => Series;
  broker: SupervisorBroker;
}

/**
 * The dashboard's API (`src/supervisor/dashboard-contract.ts`) on the real supervisor: the state (this
 * host, the others heard of through the broker, the queues), its live stream, the last hour of a queue, and
 * the dead letters of the queues shown, through the same code as `rabbit-worker dlq`. Scale and reload are
 * the control server's own routes. The caller has checked the session, the method and read-only mode.
 */
export class DashboardApi implements ApiRoutes {
  readonly #options: DashboardApiOptions;
  readonly #streams = new Set<ServerResponse>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: DashboardApiOptions) {
    this.#options = options;
  }

  /** Ends every event stream. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const response of this.#streams) response.end();
    this.#streams.clear();
  }

  async handle(request: ApiRequest, response: ServerResponse): Promise<boolean> {
    const { method, path, query, body } = request;
    if (method === 'GET' && path === '/api/state') return (sendJson(response, 200, this.#options.state()), true);
    if (method === 'GET' && path === '/api/events') return (this.#stream(request, response), true);
    if (method === 'GET' && path === '/api/series') return (sendJson(response, 200, this.#options.series(this.#queue(query.get('queue') ?? ''))), true);
    const dead = /^\/api\/dead-letters\/([^/]+)(?:\/(replay|purge))?$/.exec(path);
    if (dead === null) return false;
    let name: string;
    try {
      name = decodeURIComponent(dead[1] ?? '');
    } catch {
      throw new HttpError(400, 'malformed queue name');
    }
    const queue = this.#queue(name);
    const action = dead[2];
    if (action === undefined && method === 'GET') sendJson(response, 200, await this.#list(queue, query));
    else if (action === 'replay' && method === 'POST') sendJson(response, 200, await this.#replay(queue, body));
    else if (action === 'purge' && method === 'POST') sendJson(response, 200, await this.#purge(queue, body));
    else return false;
    return true;
  }

  /** Only the queues the dashboard shows: the control endpoint is not a door to every queue of the broker. */
  #queue(name: string): string {
    if (!this.#options.state().queues.some((q) => q.name === name)) throw new HttpError(404, `no queue ${JSON.stringify(name)} among the workers' queues`);
    return name;
  }

  #stream(request: ApiRequest, response: ServerResponse): void {
    response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    response.write(`retry: 2000\n\n`);
    this.#send(response);
    this.#streams.add(response);
    request.closed.addEventListener('abort', () => this.#streams.delete(response), { once: true });
    this.#timer ??= setInterval(() => this.#broadcast(), EVENT_INTERVAL_MS);
  }

  #broadcast(): void {
    if (this.#streams.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const frame = frameOf(this.#options.state());
    for (const response of this.#streams) response.write(frame);
  }

  #send(response: ServerResponse): void {
    response.write(frameOf(this.#options.state()));
  }

  async #connection(): ReturnType<SupervisorBroker['connection']> {
    try {
      return await this.#options.broker.connection();
    } catch (error) {
      throw new HttpError(503, `RabbitMQ cannot be reached from the supervisor: ${(error as Error).message}`);
    }
  }

  async #list(queue: string, query: URLSearchParams): Promise<DeadLetterList> {
    const limit = Number(query.get('limit') ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(422, 'limit must be an integer from 1 to 1000');
    const text = (query.get('q') ?? '').trim().toLowerCase();
    const connection = await this.#connection();
    const { messages, depth } = await missingIsEmpty(listDeadLetters(connection, queue, { limit: text === '' ? limit : SEARCH_SCAN, idleMs: LIST_IDLE_MS }));
    const found = (text === '' ? messages : messages.filter((m) => matches(m, text))).slice(0, limit);
    return { queue, depth, messages: found.map(infoOf) };
  }

  async #replay(queue: string, body: unknown): Promise<ReplayResult> {
    const { ids, all } = (body ?? {}) as { ids?: unknown; all?: unknown };
    const chosen = all === true ? undefined : Array.isArray(ids) && ids.length > 0 && ids.length <= 1000 && ids.every((id) => typeof id === 'string') ? (ids as string[]) : null;
    if (chosen === null) throw new HttpError(422, 'give { "ids": ["…"] } (at most 1000) or { "all": true }');
    const result = await replayDeadLetters(await this.#connection(), queue, chosen === undefined ? {} : { ids: chosen }).catch((error: unknown) => {
      throw (error as { code?: unknown }).code === ErrorCode.CONFIG_INVALID ? new HttpError(404, (error as Error).message) : new HttpError(409, (error as Error).message);
    });
    return { replayed: result.replayed, remaining: result.remaining, missingIds: result.missingIds };
  }

  async #purge(queue: string, body: unknown): Promise<PurgeResult> {
    const { confirm } = (body ?? {}) as { confirm?: unknown };
    if (confirm !== queue) throw new HttpError(422, `confirm must be the queue name ${JSON.stringify(queue)}`);
    const purged = await purgeDeadLetters(await this.#connection(), queue).catch((error: unknown) => {
      throw (error as { code?: unknown }).code === ErrorCode.CONFIG_INVALID ? new HttpError(404, (error as Error).message) : error;
    });
    return { purged };
  }
}

const frameOf = (state: DashboardState): string => `event: state\ndata: ${JSON.stringify(state)}\n\n`;

/** A queue whose `.dlq` does not exist yet has no dead letters. */
async function missingIsEmpty(listing: Promise<{ messages: DeadLetter[]; depth: number }>): Promise<{ messages: DeadLetter[]; depth: number }> {
  try {
    return await listing;
  } catch (error) {
    if ((error as { code?: unknown }).code === ErrorCode.CONFIG_INVALID) return { messages: [], depth: 0 };
    throw error;
  }
}

const headerText = (headers: Record<string, unknown>, name: string): string | null => (headers[name] === undefined ? null : String(headers[name]));

/** Search: the message id, or text in the body, the reason or the error (case-insensitive). */
function matches(message: DeadLetter, text: string): boolean {
  if (message.messageId?.toLowerCase() === text) return true;
  const haystack = [message.messageId, message.reason, headerText(message.headers, 'x-rabbit-worker-error'), message.body.toString('utf8')].filter((x): x is string => typeof x === 'string');
  return haystack.some((part) => part.toLowerCase().includes(text));
}

function infoOf(message: DeadLetter): DeadLetterInfo {
  const body = bodyOf(message.body);
  return {
    messageId: message.messageId ?? null,
    attempts: message.attempts ?? null,
    failedAt: message.failedAt ?? null,
    firstFailedAt: headerText(message.headers, 'x-rabbit-worker-first-failed-at'),
    reason: message.reason ?? null,
    error: headerText(message.headers, 'x-rabbit-worker-error'),
    bodyEncoding: body.encoding,
    body: body.text,
    bodyBytes: message.body.length,
    headers: plainHeaders(message.headers),
  };
}

/** Headers as JSON can carry them (AMQP tables may hold Buffers and dates). */
function plainHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(headers, (_key, value: unknown) => (Buffer.isBuffer(value) ? value.toString('base64') : value))) as Record<string, unknown>;
}
