import { parseUrls } from '../broker/url.js';
import type { Logger } from '../log/logger.js';
import { MetricName } from '../metrics/names.js';
import type { ProcessMetrics } from '../metrics/render.js';
import { simpleMetric, type MetricSnapshot } from '../metrics/snapshot.js';
import type { SupervisorConfig } from './config.js';
import { ControlAuth } from './control-auth.js';
import { ControlServer } from './control-server.js';
import { newToken, removeTokenFile, TOKEN_ENV, tokenFile, writeTokenFile } from './control-token.js';
import { DashboardApi } from './dashboard-api.js';
import type { DashboardState } from './dashboard-contract.js';
import { countersByQueue, dashboardState, hostOf } from './dashboard-state.js';
import { hostId, Peers, type Heartbeat, type QueueCounters } from './peers.js';
import { QueueSeries, STEP_MS, type QueueGauges } from './queue-series.js';
import { QueueStats } from './queue-stats.js';
import type { QueueStatus, ReloadSummary, Supervisor, SupervisorStatus } from './supervisor.js';
import { SupervisorBroker } from './supervisor-broker.js';

export interface EndpointOptions {
  supervisor: Supervisor;
  config: SupervisorConfig;
  reload: () => Promise<ReloadSummary>;
  logger: Logger;
  /** Overrides `control.port` (0 = any free port). */
  port?: number;
}

/**
 * Everything the supervisor serves and watches besides its processes: the control endpoint (metrics,
 * probes, the CLI's routes, the dashboard), its token and token file, its broker connection with the
 * queue depths, the heartbeats that show other supervisors, and the charts' history. Started after the
 * config is valid, stopped after the processes.
 */
export class SupervisorEndpoint {
  readonly #options: EndpointOptions;
  readonly #broker: SupervisorBroker;
  readonly #stats: QueueStats;
  readonly #peers: Peers;
  readonly #series = new QueueSeries();
  /** Made at the first scrape: prom-client (and the @opentelemetry/api it imports) load only when asked for. */
  #process: ProcessMetrics | undefined;
  readonly #id: string;
  readonly #token: string;
  #api: DashboardApi | undefined;
  #server: ControlServer | undefined;
  #tokenPath: string | undefined;
  #stepTimer: NodeJS.Timeout | undefined;

  constructor(options: EndpointOptions) {
    this.#options = options;
    const { config, logger } = options;
    this.#id = hostId(config.path);
    this.#token = config.control.token ?? nonEmpty(process.env[TOKEN_ENV]) ?? newToken();
    this.#broker = new SupervisorBroker({ urls: parseUrls(brokerUrl(config)), logger });
    this.#stats = new QueueStats(this.#broker, () => this.#queues());
    this.#peers = new Peers({ broker: this.#broker, selfId: this.#id, self: () => this.#heartbeat(), logger });
  }

  /** Listens, writes the token file, starts watching the broker. Resolves with the port. */
  async start(): Promise<number> {
    const { supervisor, config, logger } = this.#options;
    this.#api = new DashboardApi({ state: () => this.state(), series: (queue) => this.#series.series(queue), broker: this.#broker });
    this.#server = await ControlServer.start({
      target: { status: () => this.#status(), scale: (type, n) => supervisor.scale(type, n), reload: this.#options.reload, metrics: () => this.metrics() },
      host: config.control.host,
      port: this.#options.port ?? config.control.port,
      allowedHosts: config.control.allowedHosts,
      readOnly: config.control.readOnly,
      auth: new ControlAuth(this.#token),
      api: this.#api,
      logger,
    });
    const port = this.#server.port;
    this.#tokenPath = tokenFile(config.control.host, port);
    try {
      writeTokenFile(this.#tokenPath, this.#token);
    } catch (error) {
      logger.warn(`the control token could not be written to ${this.#tokenPath} (${(error as Error).message}): give it to the CLI as ${TOKEN_ENV}`);
      this.#tokenPath = undefined;
    }
    logger.info(`control endpoint on http://${config.control.host}:${port}: GET /metrics, /healthz, /readyz; the dashboard and the CLI's routes with the token${this.#tokenPath !== undefined ? ` (in ${this.#tokenPath})` : ''}`, {
      controlPort: port,
      ...(this.#tokenPath !== undefined ? { tokenFile: this.#tokenPath } : {}),
      readOnly: config.control.readOnly,
    });
    this.#stats.start();
    this.#peers.start();
    this.#stepTimer = setInterval(() => this.#step(), STEP_MS);
    this.#stepTimer.unref();
    return port;
  }

  async stop(): Promise<void> {
    clearInterval(this.#stepTimer);
    this.#stats.stop();
    this.#api?.close();
    await this.#peers.stop();
    await this.#server?.close();
    await this.#broker.close();
    if (this.#tokenPath !== undefined) removeTokenFile(this.#tokenPath, this.#token);
  }

  /** Prometheus text: the supervisor's process metrics, every child's (live and exited), the queues. */
  async metrics(): Promise<string> {
    const { ProcessMetrics, renderPrometheus } = await import('../metrics/render.js');
    this.#process ??= new ProcessMetrics();
    return renderPrometheus([await this.#process.snapshot(), ...this.#options.supervisor.metricGroups(), this.#brokerMetrics()]);
  }

  /** The dashboard's state. */
  state(): DashboardState {
    return dashboardState({
      self: this.#heartbeat(),
      peers: this.#peers.others(),
      depth: (queue) => this.#stats.depth(queue),
      rates: (queue) => this.#series.rates(queue),
      delayed: this.#stats.delayed,
      readOnly: this.#options.config.control.readOnly,
      now: Date.now(),
    });
  }

  /** This supervisor's processes, with its queues' depths and the delay levels as last read. */
  #status(): SupervisorStatus {
    const status = this.#options.supervisor.status();
    const names = [...new Set(status.types.map((t) => t.queue).filter((q): q is string => q !== null))].sort();
    const queues: QueueStatus[] = names.map((name) => {
      const { ready, consumers, dead } = this.#stats.depth(name);
      return { name, ready, consumers, dead };
    });
    return { ...status, queues, delayed: this.#stats.delayed };
  }

  #heartbeat(): Heartbeat {
    const { supervisor } = this.#options;
    const status = supervisor.status();
    return { v: 1, host: hostOf(this.#id, status), queues: countersByQueue(supervisor.metricGroups(), status), sentAt: Date.now() };
  }

  /** The queues of this host's types, and those of the other online hosts (the dashboard shows them all). */
  #queues(): string[] {
    const names = new Set<string>();
    for (const type of this.#options.supervisor.status().types) if (type.queue !== null) names.add(type.queue);
    for (const peer of this.#peers.others()) if (peer.online) for (const type of peer.beat.host.types) if (type.queue !== '') names.add(type.queue);
    return [...names].sort();
  }

  /** Messages held unacked by the processes of every supervisor heard of, per queue. */
  #inflight(self: Heartbeat): Map<string, number> {
    const out = new Map<string, number>();
    for (const beat of [self, ...this.#peers.others().filter((p) => p.online).map((p) => p.beat)]) {
      for (const [queue, counters] of Object.entries(beat.queues)) out.set(queue, (out.get(queue) ?? 0) + counters.inflight);
    }
    return out;
  }

  #step(): void {
    const self = this.#heartbeat();
    const hosts = new Map<string, Record<string, QueueCounters>>([[self.host.id, self.queues]]);
    for (const peer of this.#peers.others()) if (peer.online) hosts.set(peer.beat.host.id, peer.beat.queues);
    const inflight = this.#inflight(self);
    const gauges = new Map<string, QueueGauges>(this.#queues().map((queue) => [queue, { ready: this.#stats.depth(queue).ready, inflight: inflight.get(queue) ?? 0 }]));
    this.#series.sample(Date.now(), hosts, gauges);
  }

  #brokerMetrics(): MetricSnapshot[] {
    const inflight = this.#inflight(this.#heartbeat());
    const series: Array<[Record<string, string>, number]> = [];
    for (const queue of this.#queues()) {
      const depth = this.#stats.depth(queue);
      if (depth.ready !== null) series.push([{ queue, state: 'ready' }, depth.ready]);
      series.push([{ queue, state: 'unacked' }, inflight.get(queue) ?? 0]);
      if (depth.dead !== null) series.push([{ queue, state: 'dead' }, depth.dead]);
    }
    const delayed = this.#stats.delayed;
    if (delayed !== null) series.push([{ queue: '*', state: 'delayed' }, delayed]);
    return [
      simpleMetric(
        MetricName.queueMessages,
        'Messages of the queues the supervisors know, by state: ready and dead (<queue>.dlq) from RabbitMQ; unacked = held by the processes of every rabbit-worker supervisor on the broker; delayed = every queue together (queue="*"), the delay levels being shared.',
        'gauge',
        series,
        'first',
      ),
      simpleMetric(MetricName.brokerConnected, '1 while the connection to RabbitMQ is open.', 'gauge', [[{ worker: 'supervisor', queue: '' }, this.#broker.connected ? 1 : 0]], 'min'),
    ];
  }
}

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value.trim() === '' ? undefined : value.trim());

/**
 * The broker the supervisor watches (queue depths, other hosts): the config's top-level `url`, else the URL
 * most of its types use (one type with another broker, or a wrong password, must not blind it), else
 * AMQP_URL or the default.
 */
function brokerUrl(config: SupervisorConfig): string | undefined {
  if (config.url !== undefined) return config.url;
  const counts = new Map<string, number>();
  for (const type of config.workers) if (type.url !== undefined) counts.set(type.url, (counts.get(type.url) ?? 0) + 1);
  const unset = config.workers.filter((t) => t.url === undefined).length;
  const [best, bestCount] = [...counts].sort((a, b) => b[1] - a[1])[0] ?? [undefined, 0];
  return bestCount > unset ? best : undefined;
}
