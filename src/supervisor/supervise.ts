import { ExitCode } from '../errors.js';
import { createPino, Logger } from '../log/logger.js';
import { loadConfig } from './config.js';
import { watchParent } from '../worker/parent-watch.js';
import { outputFormat, tagLine } from './output.js';
import { prepareTypes } from './prepare-types.js';
import { startSchedules } from './schedules/start.js';
import { SupervisorEndpoint } from './supervisor-endpoint.js';
import { Supervisor, type ReloadSummary } from './supervisor.js';

export interface SuperviseOptions {
  /** Config file, or a directory to look in; default: the working directory. */
  config?: string;
  /** Overrides `control.port` (0 = any free port, logged). */
  port?: number;
}

/**
 * `rabbit-worker supervise`: loads and validates the config (a bad one throws ConfigError before anything
 * starts), opens the control endpoint, starts every process, and runs until SIGTERM/SIGINT.
 * SIGHUP (or POST /reload) reads the config again. Resolves to the exit code.
 */
export async function supervise(options: SuperviseOptions = {}): Promise<number> {
  const config = await loadConfig(options.config);
  // In a terminal the supervisor's own lines read like its children's: `supervisor | INFO …`.
  const format = outputFormat();
  const logger = new Logger(
    createPino({ base: { worker: 'supervisor' }, ...(format === 'pretty' ? { write: (line: string) => void process.stdout.write(`${tagLine(line, 'supervisor', 'stdout', 'pretty')}\n`) } : {}) }),
  );
  const supervisor = new Supervisor(config, { logger, format });
  const schedules = startSchedules(config, logger);

  let reloading: Promise<ReloadSummary> | undefined;
  const reload = (): Promise<ReloadSummary> => {
    reloading ??= (async () => {
      try {
        const next = await loadConfig(config.path);
        await prepareTypes(next.workers, logger);
        schedules.update(next);
        return supervisor.reload(next);
      } finally {
        reloading = undefined;
      }
    })();
    return reloading;
  };

  const endpoint = new SupervisorEndpoint({ supervisor, config, reload, logger, ...(options.port !== undefined ? { port: options.port } : {}) });
  await endpoint.start().catch(async (error: unknown) => {
    await schedules.stop(); // its connections would keep a supervisor that could not start alive
    throw error;
  });

  let firstSignalAt = 0;
  let onStop: (signal: NodeJS.Signals) => void = () => {};
  const done = new Promise<void>((resolve) => {
    onStop = (signal: NodeJS.Signals): void => {
      // the same signal sent to a whole process group (`timeout`, some init systems) arrives twice at once:
      // only a second one at least a second later means "now"
      if (firstSignalAt > 0) {
        if (Date.now() - firstSignalAt < 1000) return;
        logger.warn(`${signal} again: killing every process now`);
        supervisor.killAll();
        return;
      }
      firstSignalAt = Date.now();
      logger.info(`${signal} received: stopping every process gracefully (send it again to kill them)`);
      // side by side: the schedules hand their token to the next supervisor while these workers drain
      void Promise.all([schedules.stop(), supervisor.stop()]).then(() => resolve());
    };
  });
  const onHup = (): void => {
    logger.info('SIGHUP received: reloading the configuration');
    reload().catch((error: unknown) => logger.error(`reload failed, the running configuration stays: ${(error as Error).message}`));
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  // npx does not pass SIGTERM on: a supervisor whose parent went away stops its workers as if signalled
  const stopWatching = watchParent((why) => {
    logger.warn(`${why}; stopping`);
    onStop('SIGTERM');
  });

  // compiled once here, so that the children find a warm cache; a signal meanwhile means: start nothing
  await prepareTypes(config.workers, logger);
  if (!supervisor.stopping) supervisor.start();
  await done;
  process.off('SIGTERM', onStop);
  process.off('SIGINT', onStop);
  process.off('SIGHUP', onHup);
  stopWatching();
  await endpoint.stop();
  return ExitCode.OK;
}
