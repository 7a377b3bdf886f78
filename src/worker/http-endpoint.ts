import { createServer, type Server } from 'node:http';
import { closeServer, HttpError, listen, pathOf, sendBody, sendError, sendJson } from '../http/respond.js';
import { PROMETHEUS_CONTENT_TYPE, ProcessMetrics, renderPrometheus } from '../metrics/render.js';
import type { WorkerState } from './status-report.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** Why a worker in `state` is not ready, for `/readyz`'s 503. */
const NOT_READY: Record<Exclude<WorkerState, 'running'>, string> = {
  starting: 'starting: loading the worker, connecting, declaring its queue',
  reconnecting: 'reconnecting: the connection to RabbitMQ was lost',
  draining: 'draining: stopping, finishing the messages in flight',
  stopped: 'stopped',
};

export interface WorkerHttpOptions {
  port: number;
  /** @default '0.0.0.0': a container's probes come from outside it */
  host?: string;
  state: () => WorkerState;
  /** Undefined with `metrics: false`: `/metrics` then has the process metrics only. */
  metrics: WorkerMetrics | undefined;
}

/**
 * `rabbit-worker run --http-port N`: the probes and metrics of one process, for containers where one `run`
 * is the whole pod. No token: it serves nothing but these three read-only answers.
 * - `GET /healthz`: 200 while the event loop answers, whatever the broker does (a broker outage must not
 *   make Kubernetes restart every worker);
 * - `GET /readyz`: 200 while consuming, else 503 with `{ ready: false, state, reason }`;
 * - `GET /metrics`: Prometheus text: the worker's metrics, the process's, `rabbit_worker_build_info`.
 */
export class WorkerHttpEndpoint {
  readonly #options: WorkerHttpOptions;
  readonly #server: Server;
  #process: ProcessMetrics | undefined;

  constructor(options: WorkerHttpOptions) {
    this.#options = options;
    this.#server = createServer((request, response) => {
      this.#route(request.method ?? 'GET', pathOf(request)).then(
        (answer) => (typeof answer === 'string' ? sendBody(response, 200, PROMETHEUS_CONTENT_TYPE, answer) : sendJson(response, answer[0], answer[1])),
        (error: unknown) => sendError(response, error),
      );
    });
    this.#server.keepAliveTimeout = 5_000;
  }

  /** Listens; a port in use is a ConfigError (exit 2). Resolves with the port. */
  start(): Promise<number> {
    return listen(this.#server, this.#options.port, this.#options.host ?? '0.0.0.0', 'httpPort');
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }

  async #route(method: string, path: string): Promise<string | [number, unknown]> {
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'only GET');
    if (path === '/healthz') return [200, { status: 'ok' }];
    if (path === '/readyz') {
      const state = this.#options.state();
      return state === 'running' ? [200, { ready: true, state }] : [503, { ready: false, state, reason: NOT_READY[state] }];
    }
    if (path === '/metrics') {
      // prom-client's default metrics start their watchers when created: only for a process that is scraped
      this.#process ??= new ProcessMetrics();
      return renderPrometheus([await this.#process.snapshot(), this.#options.metrics?.snapshot() ?? []]);
    }
    throw new HttpError(404, 'not found: GET /metrics, /healthz, /readyz');
  }
}
