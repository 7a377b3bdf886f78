import { basename, extname } from 'node:path';
import type { ConnectOptions } from '../broker/connection.js';
import { redactUrl } from '../broker/url.js';
import { exitCodeFor, ExitCode } from '../errors.js';
import { createPino, Logger } from '../log/logger.js';
import { BrokerLink } from './broker-link.js';
import { Consumer, CONSUMER_TIMEOUT_MS } from './consumer.js';
import { InlineRunner } from './inline-runner.js';
import { preloadIsolate, ThreadRunner } from './isolate/thread-runner.js';
import { DEFAULT_SETTINGS, normalizeSettings, type SettingsOverrides, type WorkerSettings } from './options.js';
import { ProcessGuard } from './process-guard.js';
import type { CallbackRunner } from './runner.js';
import type { ShutdownReason } from './shutdown-reason.js';
import { sendStatus, type WorkerState } from './status-report.js';
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
    orphaned: () => guard.exit(ExitCode.OK),
  });
  guard.install();
  const overrides = options.overrides ?? {};
  const logBase = { worker: name };
  try {
    let settings: WorkerSettings | undefined;
    let runner: CallbackRunner | undefined;
    if (overrides.isolation !== 'none') {
      // The worker loads in its isolate; the main thread only validates what it reports.
      const preloaded = await preloadIsolate(options.file, overrides, logBase, overrides.memoryLimitMb ?? DEFAULT_SETTINGS.memoryLimitMb);
      try {
        settings = normalizeSettings(preloaded.raw, overrides);
      } catch (error) {
        await preloaded.worker.terminate();
        throw error;
      }
      if (settings.isolation === 'thread') runner = new ThreadRunner(options.file, settings, new Logger(root.child({ queue: settings.queue })), { ...logBase, queue: settings.queue }, preloaded);
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
    return await new WorkerProcess(name, options, settings, logger, guard, runner).run();
  } catch (error) {
    const code = exitCodeFor(error);
    const message = error instanceof Error ? error.message : String(error);
    if (code === ExitCode.FAILURE) logger.error(`worker failed to start: ${message}`, { err: error instanceof Error ? { message, stack: error.stack } : message, exitCode: code });
    else logger.error(message, { code: (error as { code?: unknown }).code, exitCode: code });
    return code;
  } finally {
    guard.uninstall();
  }
}

class WorkerProcess {
  #state: WorkerState = 'starting';
  #stopping: Promise<number> | undefined;
  #resolveExit: (code: number) => void = () => {};
  readonly #link: BrokerLink;
  readonly #consumer: Consumer;
  readonly #runner: CallbackRunner;
  readonly #guard: ProcessGuard;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(
    readonly name: string,
    readonly options: RunWorkerOptions,
    readonly settings: WorkerSettings,
    readonly logger: Logger,
    guard: ProcessGuard,
    runner: CallbackRunner,
  ) {
    this.#runner = runner;
    this.#consumer = new Consumer({
      settings,
      worker: name,
      runner: this.#runner,
      logger,
      onLimit: () => void this.stop('max-messages'),
      onStuck: () => void this.stop('deadline'),
      onFailed: () => void this.stop('fatal', 0),
    });
    this.#link = new BrokerLink({
      connect: options.connect,
      settings,
      name,
      logger,
      consumer: this.#consumer,
      onGiveUp: (cause) => void this.stop(cause, cause === 'broker-lost' ? 0 : settings.stopTimeout),
      onReconnecting: (reconnecting) => {
        if (this.#state !== 'running' && this.#state !== 'reconnecting') return;
        this.#state = reconnecting ? 'reconnecting' : 'running';
        this.#report();
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
      orphaned: () => {
        logger.warn('the supervisor went away (IPC channel closed); stopping');
        void this.stop('signal');
      },
    });
  }

  async run(): Promise<number> {
    const exit = new Promise<number>((resolve) => (this.#resolveExit = resolve));
    if (this.settings.isolation === 'none') this.#guard.interceptExit(() => this.#consumer.inflight > 0);
    try {
      await this.#start();
    } catch (error) {
      await this.#runner.close().catch(() => {});
      await this.#link.close();
      throw error;
    }
    return exit;
  }

  async #start(): Promise<void> {
    const { settings, logger } = this;
    await this.#runner.start(this.#consumer.events);
    await this.#link.open();
    this.#state = 'running';
    logger.info(`consuming ${settings.queue}`, {
      url: this.options.connect.urls.map(redactUrl).join(','),
      prefetch: settings.prefetch,
      isolation: settings.isolation,
      queueType: settings.queueType,
      ttl: settings.ttl,
      maxMessages: settings.maxMessages,
    });
    if (settings.messageTimeout * 1000 > CONSUMER_TIMEOUT_MS * 0.9) {
      logger.warn(`messageTimeout (${settings.messageTimeout}s) is near or past RabbitMQ's consumer_timeout (${CONSUMER_TIMEOUT_MS / 1000}s): the broker may close the channel first`);
    }
    this.#report();
    this.#schedule();
  }

  #schedule(): void {
    const { settings } = this;
    if (settings.ttl > 0) this.#timers.push(setTimeout(() => void this.stop('ttl'), settings.ttl * 1000));
    const memory = setInterval(() => {
      const usedMb = this.#runner.memoryMb();
      if (usedMb > settings.memoryLimitMb) {
        this.logger.warn(`callbacks hold ${Math.round(usedMb)} MB of heap and buffers, more than memoryLimitMb (${settings.memoryLimitMb}); recycling`);
        void this.stop('memory');
      }
    }, this.options.memoryCheckMs ?? 1000);
    const status = setInterval(() => this.#report(true), 250);
    memory.unref();
    status.unref();
    this.#timers.push(memory, status);
  }

  #reported = '';

  /** Tells the supervisor (if any) how things stand; `onlyIfChanged` for the periodic report. */
  #report(onlyIfChanged = false): void {
    const key = `${this.#state}/${this.#consumer.handled}/${this.#consumer.inflight}`;
    if (onlyIfChanged && key === this.#reported) return;
    this.#reported = key;
    sendStatus({
      type: 'rabbit-worker:status',
      state: this.#state,
      queue: this.settings.queue,
      stopTimeout: this.settings.stopTimeout,
      handled: this.#consumer.handled,
      inflight: this.#consumer.inflight,
      inflightIds: this.#consumer.inflightIds(),
    });
  }

  /**
   * Stops in order, once: stop receiving, let callbacks finish for up to `graceSeconds` (default
   * `stopTimeout`), interrupt the rest with `shutdown('stop-timeout')`, settle, close channel and connection.
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
    this.#state = 'draining';
    this.#timers.forEach((timer) => clearTimeout(timer));
    this.#report();
    const { logger } = this;
    const started = Date.now();
    if (cause !== 'signal' && cause !== 'fatal') logger.info(`stopping (${cause}): finishing ${this.#consumer.inflight} message(s) in flight`);
    await this.#link.cancel();
    const finished = await this.#consumer.idle(graceSeconds * 1000);
    if (!finished) await this.#interrupt('stop-timeout', new Error(`callbacks did not finish within stopTimeout (${graceSeconds}s)`));
    await this.#runner.close().catch(() => {});
    this.#consumer.close();
    await this.#link.close();
    this.#state = 'stopped';
    this.#report();
    const code = EXIT_FOR[cause];
    logger.info(`stopped (${cause}) after ${this.#consumer.handled} message(s)`, { cause, exitCode: code, stopMs: Date.now() - started });
    this.#resolveExit(code);
    return code;
  }

  async #interrupt(reason: ShutdownReason, error: unknown): Promise<void> {
    await this.#runner.interrupt();
    await this.#consumer.interrupted(reason, error);
  }

  async #fatal(reason: Extract<ShutdownReason, 'uncaught-exception' | 'unhandled-rejection' | 'exit'>, error: unknown): Promise<void> {
    this.logger.critical(`${reason} in the worker process: ${error instanceof Error ? error.message : String(error)}`, {
      err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error),
    });
    await this.#consumer.interrupted(reason, error, { cancelFirst: true });
    await this.stop('fatal', 0);
  }
}

