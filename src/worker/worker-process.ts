import { basename, extname } from 'node:path';
import type { ConnectOptions } from '../broker/connection.js';
import { redactUrl } from '../broker/url.js';
import { Deadline } from '../deadline.js';
import { exitCodeFor, ExitCode } from '../errors.js';
import { Lifecycle } from '../lifecycle.js';
import { createPino, Logger } from '../log/logger.js';
import { BrokerLink } from './broker-link.js';
import { Consumer } from './consumer.js';
import { InlineRunner } from './inline-runner.js';
import { preloadIsolate, ThreadRunner } from './isolate/thread-runner.js';
import { checkOverrides, DEFAULT_SETTINGS, normalizeSettings, type SettingsOverrides, type WorkerSettings } from './options.js';
import { ProcessGuard } from './process-guard.js';
import { armReadyWithin, type StartProbe } from './ready-within.js';
import type { CallbackRunner } from './runner.js';
import type { ShutdownReason } from './shutdown-reason.js';
import { sendFailure, sendMetrics, sendStatus, type WorkerState } from './status-report.js';
import type { WorkerHttpEndpoint } from './http-endpoint.js';
import { WorkerMetrics } from './worker-metrics.js';
import { applySettings, readSettings } from './worker-task.js';

/** Why a worker process stops; each maps to an exit code. */
export type StopCause = 'ttl' | 'max-messages' | 'memory' | 'deadline' | 'signal' | 'broker-lost' | 'consumer-cancelled' | 'fatal';

const EXIT_FOR: Record<StopCause, number> = {
  ttl: ExitCode.OK,
  'max-messages': ExitCode.OK,
  memory: ExitCode.OK,
  deadline: ExitCode.OK,
  signal: ExitCode.OK,
  'broker-lost': ExitCode.BROKER_UNREACHABLE,
  'consumer-cancelled': ExitCode.FAILURE,
  fatal: ExitCode.FAILURE,
};

export interface RunWorkerOptions {
  file: string;
  /** Config file and command-line values; they win over `initialize()`. */
  overrides?: SettingsOverrides;
  connect: Omit<ConnectOptions, 'logger' | 'name'>;
  /** Worker type name for logs; defaults to the file's base name. */
  name?: string;
  /** How often to check memory growth, in ms. @default 1000 */
  memoryCheckMs?: number;
  /**
   * Not consuming this many seconds after the process started: exit 1 (`--ready-within`). For process
   * managers without a readiness protocol (supervisord counts a process as started once it stayed up
   * `startsecs`): a worker still loading or connecting then must not count as started. 0 = no limit. @default 0
   */
  readyWithinSeconds?: number;
}

/**
 * One worker process, from start to exit code: load the class, `initialize()`, apply overrides, validate,
 * connect, declare, consume; then stop on TTL, `maxMessages`, memory growth, a signal, or a fatal error.
 * Never throws: every ending is an exit code (0 clean, 1 failure, 2 configuration, 3 broker unreachable).
 */
export async function runWorker(options: RunWorkerOptions): Promise<number> {
  const name = options.name ?? basename(options.file, extname(options.file));
  const root = createPino({ base: { worker: name } });
  let logger = new Logger(root);
  // Until the worker runs, a signal just ends the process: nothing is in flight yet.
  const guard = new ProcessGuard({
    signal: (signal) => {
      logger.info(`${signal} received while starting; exiting`);
      guard.exit(ExitCode.OK);
    },
    fatal: (reason, error) => {
      logger.error(`${reason} while starting: ${error instanceof Error ? error.message : String(error)}`);
      guard.exit(ExitCode.FAILURE);
    },
    orphaned: (why) => {
      logger.info(`${why} while starting; exiting`);
      guard.exit(ExitCode.OK);
    },
  });
  guard.install();
  logger.debug('worker starting: signals are handled from here on', { file: options.file });
  let worker: WorkerProcess | undefined;
  const readyWithin = armReadyWithin(
    options.readyWithinSeconds ?? 0,
    { done: () => worker?.startProbe.done() ?? false, phase: () => worker?.startProbe.phase() ?? 'loading the worker file' },
    (message) => {
      logger.error(message, { exitCode: ExitCode.FAILURE });
      guard.exit(ExitCode.FAILURE);
    },
  );
  const overrides = options.overrides ?? {};
  const logBase = { worker: name };
  try {
    let settings: WorkerSettings | undefined;
    let runner: CallbackRunner | undefined;
    if (overrides.isolation !== 'none') {
      // The worker loads in its isolate; the main thread only validates what it reports.
      // The command line's and the config file's values are checked before anything starts with them: a
      // `--memory-limit-mb 1` must be a configuration error (exit 2), not an isolate dying while it loads.
      checkOverrides(overrides);
      const preloaded = await preloadIsolate(options.file, overrides, logBase, overrides.memoryLimitMb ?? DEFAULT_SETTINGS.memoryLimitMb);
      try {
        settings = normalizeSettings(preloaded.raw, overrides);
      } catch (error) {
        await preloaded.worker.terminate();
        throw error;
      }
      // the isolate binds `queue` itself once it has its settings: in logBase too, every line would carry it twice
      if (settings.isolation === 'thread') runner = new ThreadRunner(options.file, settings, new Logger(root.child({ queue: settings.queue })), logBase, preloaded);
      else await preloaded.worker.terminate(); // initialize() chose the main thread
    }
    if (runner === undefined || settings === undefined) {
      const { loadWorkerClass } = await import('./load-worker.js');
      const WorkerClass = await loadWorkerClass(options.file);
      const task = new WorkerClass();
      task.logger = new Logger(root);
      task.initialize();
      settings = normalizeSettings(readSettings(task), overrides);
      applySettings(task, settings);
      runner = new InlineRunner(task, task.logger);
    }
    logger = new Logger(root.child({ queue: settings.queue }));
    worker = new WorkerProcess(name, options, settings, logger, guard, runner);
    return await worker.run();
  } catch (error) {
    const code = exitCodeFor(error);
    const message = error instanceof Error ? error.message : String(error);
    const errorCode = (error as { code?: unknown }).code;
    if (code === ExitCode.FAILURE) logger.error(`worker failed to start: ${message}`, { err: error, exitCode: code });
    else logger.error(message, { code: errorCode, exitCode: code });
    await sendFailure({ message: message.split('\n')[0] ?? message, exitCode: code, ...(typeof errorCode === 'string' ? { code: errorCode } : {}) });
    return code;
  } finally {
    clearTimeout(readyWithin);
    guard.uninstall();
  }
}

/** After `stopTimeout`: how long `shutdown()` for the callbacks still running may take while stopping. */
const STOP_SHUTDOWN_MS = 4_000;
/** Then: how long closing channels and connections may take before sockets are destroyed. */
const STOP_CLOSE_MS = 4_000;
/** How often a supervised worker sends its metrics (and memory) to the supervisor. */
export const METRICS_REPORT_MS = 2_000;

const TRANSITIONS = {
  starting: ['running', 'draining'],
  running: ['reconnecting', 'draining'],
  reconnecting: ['running', 'draining'],
  draining: ['stopped'],
  stopped: [],
} as const satisfies Record<WorkerState, readonly WorkerState[]>;

class WorkerProcess {
  readonly #state: Lifecycle<WorkerState>;
  #stopping: Promise<number> | undefined;
  #resolveExit: (code: number) => void = () => {};
  readonly #link: BrokerLink;
  readonly #consumer: Consumer;
  readonly #runner: CallbackRunner;
  readonly #guard: ProcessGuard;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #metrics: WorkerMetrics | undefined;
  #http: WorkerHttpEndpoint | undefined;

  constructor(
    readonly name: string,
    readonly options: RunWorkerOptions,
    readonly settings: WorkerSettings,
    readonly logger: Logger,
    guard: ProcessGuard,
    runner: CallbackRunner,
  ) {
    this.#state = new Lifecycle<WorkerState>('worker', 'starting', TRANSITIONS, { log: logger, onChange: () => this.#report() });
    this.#runner = runner;
    const metrics = settings.metrics
      ? new WorkerMetrics({ worker: name, queue: settings.queue }, { inflight: () => this.#consumer.inflight, connected: () => this.#link.state === 'consuming' || this.#link.state === 'repairing' })
      : undefined;
    this.#metrics = metrics;
    this.#consumer = new Consumer({
      settings,
      worker: name,
      runner: this.#runner,
      logger,
      onLimit: () => void this.stop('max-messages'),
      onStuck: () => void this.stop('deadline'),
      onFailed: () => void this.stop('fatal', 0),
      // with metrics off (and callbacks in isolates), no hook at all: nothing is done per message
      ...(metrics !== undefined ? { onReceived: (delivery) => metrics.received(delivery), onIsolateRestart: (reason) => metrics.isolateRestarted(reason) } : {}),
      ...(settings.isolation === 'none'
        ? {
            onSettled: (delivery, outcome) => {
              metrics?.settled(delivery, outcome);
              this.#checkMemoryBetweenMessages();
            },
          }
        : metrics !== undefined
          ? { onSettled: (delivery, outcome) => metrics.settled(delivery, outcome) }
          : {}),
    });
    this.#link = new BrokerLink({
      connect: options.connect,
      settings,
      name,
      logger,
      consumer: this.#consumer,
      onGiveUp: (cause) => void this.stop(cause, cause === 'broker-lost' ? 0 : settings.stopTimeout),
      onReconnecting: (reconnecting) => {
        this.#state.to(reconnecting ? 'reconnecting' : 'running', reconnecting ? 'connection lost' : 'reconnected');
      },
    });
    this.#guard = guard;
    guard.handle({
      signal: (signal, count) => {
        if (count > 1) {
          logger.warn(`${signal} again: interrupting callbacks now`);
          void this.stop('signal', 0);
        } else {
          logger.info(`${signal} received: finishing ${this.#consumer.inflight} message(s) in flight (stopTimeout ${settings.stopTimeout}s)`);
          void this.stop('signal');
        }
      },
      fatal: (reason, error) => void this.#fatal(reason, error),
      orphaned: (why) => {
        logger.warn(`${why}; stopping`);
        void this.stop('signal');
      },
    });
  }

  /** For `--ready-within`: consuming, or no longer starting (a stop began), and where the start is. */
  readonly startProbe: StartProbe = {
    done: () => !this.#state.is('starting') || this.#link.state === 'consuming',
    phase: () =>
      this.#link.state === 'idle'
        ? 'starting its callback isolate'
        : `${this.#link.state} (RabbitMQ at ${this.options.connect.urls.map(redactUrl).join(', ')})`,
  };

  async run(): Promise<number> {
    const exit = new Promise<number>((resolve) => (this.#resolveExit = resolve));
    if (this.settings.isolation === 'none') this.#guard.interceptExit(() => this.#consumer.inflight > 0);
    try {
      if (this.settings.httpPort > 0) {
        // before connecting: /healthz answers (and /readyz says "starting") while the worker starts
        // loaded only when asked for: prom-client (and the @opentelemetry/api it imports) cost ~60 ms at start
        const { WorkerHttpEndpoint } = await import('./http-endpoint.js');
        this.#http = new WorkerHttpEndpoint({ port: this.settings.httpPort, state: () => this.#state.state, metrics: this.#metrics });
        const port = await this.#http.start();
        this.logger.info(`GET /metrics, /healthz, /readyz on port ${port}`, { httpPort: port });
      }
      await this.#start();
    } catch (error) {
      // A stop that began during start-up owns the ending (and its exit code): the start only gave way.
      if (this.#stopping !== undefined) return exit;
      await this.#runner.close().catch(() => {});
      await this.#link.close(new Deadline(STOP_CLOSE_MS, () => new Error('close timed out')));
      await this.#http?.close();
      throw error;
    }
    const code = await exit;
    await this.#http?.close();
    return code;
  }

  async #start(): Promise<void> {
    const { settings, logger } = this;
    await this.#runner.start(this.#consumer.events);
    if (!this.#state.is('starting')) return;
    await this.#link.open();
    if (!this.#state.to('running', 'consuming')) return;
    logger.info(`consuming ${settings.queue}`, {
      url: this.options.connect.urls.map(redactUrl).join(','),
      prefetch: settings.prefetch,
      isolation: settings.isolation,
      threads: settings.threads,
      queueType: settings.queueType,
      ttl: settings.ttl,
      maxMessages: settings.maxMessages,
    });
    if (settings.isolation === 'none') {
      logger.info(
        `isolation none: callbacks run on the main thread, without a heap limit of their own: memoryLimitMb (${settings.memoryLimitMb}) is checked between messages, a callback that exhausts the heap ends the process (its messages come back from the broker, counted as attempts), and a callback that ignores messageTimeout can only be freed by stopping the process`,
      );
    }
    if (settings.messageTimeout > 0 && settings.messageTimeout > settings.consumerTimeout * 0.9) {
      logger.warn(`messageTimeout (${settings.messageTimeout}s) is near or past the broker's consumer_timeout (consumerTimeout ${settings.consumerTimeout}s): the broker may close the channel first`);
    }
    this.#schedule();
  }

  #lastMemoryCheck = 0;

  /**
   * `isolation: 'none'` has no heap limit of its own: memory is checked between messages too (at most every
   * 100 ms), not only once a second, so that a worker growing message after message is recycled in time.
   */
  #checkMemoryBetweenMessages(): void {
    const now = Date.now();
    if (now - this.#lastMemoryCheck < 100) return;
    this.#lastMemoryCheck = now;
    this.#checkMemory();
  }

  #checkMemory(): void {
    const { settings } = this;
    const usedMb = this.#runner.memoryMb();
    if (usedMb > settings.memoryLimitMb && !this.#state.is('draining', 'stopped')) {
      this.logger.warn(`callbacks hold ${Math.round(usedMb)} MB of heap and buffers, more than memoryLimitMb (${settings.memoryLimitMb}); recycling`);
      void this.stop('memory');
    }
  }

  #schedule(): void {
    const { settings } = this;
    if (settings.ttl > 0) this.#timers.push(setTimeout(() => void this.stop('ttl'), settings.ttl * 1000));
    const memory = setInterval(() => this.#checkMemory(), this.options.memoryCheckMs ?? 1000);
    const status = setInterval(() => this.#report(true), 250);
    memory.unref();
    status.unref();
    this.#timers.push(memory, status);
    if (typeof process.send === 'function') {
      const metrics = setInterval(() => void this.#sendMetrics(), METRICS_REPORT_MS);
      metrics.unref();
      this.#timers.push(metrics);
      void this.#sendMetrics();
    }
  }

  /** The metrics (and memory) to the supervisor, if there is one. */
  #sendMetrics(): Promise<void> {
    return sendMetrics({ metrics: this.#metrics?.snapshot() ?? [], rssMb: Math.round(process.memoryUsage.rss() / 104857.6) / 10 });
  }

  #reported = '';

  /** Tells the supervisor (if any) how things stand; `onlyIfChanged` for the periodic report. */
  #report(onlyIfChanged = false): void {
    const state = this.#state?.state ?? 'starting';
    const key = `${state}/${this.#consumer?.handled}/${this.#consumer?.unacked}`;
    if (onlyIfChanged && key === this.#reported) return;
    this.#reported = key;
    sendStatus({
      type: 'rabbit-worker:status',
      state,
      queue: this.settings.queue,
      stopTimeout: this.settings.stopTimeout,
      handled: this.#consumer?.handled ?? 0,
      inflight: this.#consumer?.unacked ?? 0,
      inflightIds: this.#consumer?.inflightIds() ?? [],
    });
  }

  /**
   * Stops in order, once, within `graceSeconds` (default `stopTimeout`) + a bounded margin: stop receiving,
   * let callbacks finish for up to `graceSeconds`, interrupt the rest with `shutdown('stop-timeout')`,
   * settle, close channel and connections (destroying them if the broker does not answer: what is unacked
   * goes back to the queue). A second call with `graceSeconds` 0 cuts the grace short.
   */
  stop(cause: StopCause, graceSeconds = this.settings.stopTimeout): Promise<number> {
    if (this.#stopping !== undefined) {
      if (graceSeconds === 0) void this.#interrupt('stop-timeout', new Error('stopped at once'));
      return this.#stopping;
    }
    this.#stopping = this.#stop(cause, graceSeconds);
    return this.#stopping;
  }

  async #stop(cause: StopCause, graceSeconds: number): Promise<number> {
    this.#state.to('draining', `stop: ${cause}`);
    this.#timers.forEach((timer) => clearTimeout(timer));
    const { logger } = this;
    const started = Date.now();
    if (cause !== 'signal' && cause !== 'fatal') logger.info(`stopping (${cause}): finishing ${this.#consumer.inflight} message(s) in flight`);
    const grace = new Deadline(graceSeconds * 1000, () => new Error(`callbacks did not finish within stopTimeout (${graceSeconds}s)`));
    await this.#link.cancel(grace);
    const finished = await this.#consumer.idle(grace);
    grace.clear();
    if (!finished) await this.#interrupt('stop-timeout', new Error(`callbacks did not finish within stopTimeout (${graceSeconds}s)`));
    await this.#runner.close().catch(() => {});
    this.#consumer.close();
    const closing = new Deadline(STOP_CLOSE_MS, () => new Error('closing the broker connections timed out'));
    await this.#link.close(closing);
    closing.clear();
    // the last counts, so that the supervisor's totals include every message of this process
    await this.#sendMetrics();
    this.#state.to('stopped', 'closed');
    const code = EXIT_FOR[cause];
    logger.info(`stopped (${cause}) after ${this.#consumer.handled} message(s)`, { cause, exitCode: code, stopMs: Date.now() - started });
    this.#resolveExit(code);
    return code;
  }

  async #interrupt(reason: ShutdownReason, error: unknown): Promise<void> {
    await this.#runner.interrupt();
    await this.#consumer.interrupted(reason, error, { shutdownTimeoutMs: STOP_SHUTDOWN_MS });
  }

  async #fatal(reason: Extract<ShutdownReason, 'uncaught-exception' | 'unhandled-rejection' | 'exit'>, error: unknown): Promise<void> {
    this.logger.critical(`${reason} in the worker process: ${error instanceof Error ? error.message : String(error)}`, { err: error });
    await this.#consumer.interrupted(reason, error, { cancelFirst: true });
    await this.stop('fatal', 0);
  }
}
