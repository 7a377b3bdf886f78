import type { Logger } from '../../log/logger.js';
import type { SupervisorConfig } from '../config.js';
import { Scheduler } from './scheduler.js';

/** What `supervise` holds of the schedules: nothing runs when the config has none. */
export interface RunningSchedules {
  /** A reloaded config: schedules added, changed or removed (the first ones start the scheduler). */
  update(config: SupervisorConfig): void;
  /** Stops firing and leaves the election; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the config's schedules (see {@link Scheduler}) under `supervise`. A config without schedules
 * opens no connection; one that gains schedules on reload starts them then.
 */
export function startSchedules(config: SupervisorConfig, logger: Logger): RunningSchedules {
  let scheduler: Scheduler | undefined;
  let running = config;
  const log = logger.child({ component: 'schedules' });
  const begin = (from: SupervisorConfig): void => {
    scheduler = new Scheduler({ schedules: from.schedules, group: from.scheduler.group, logger: log, ...(from.url !== undefined ? { url: from.url } : {}) });
    scheduler.start();
    running = from;
    log.info(`${from.schedules.length} schedule(s): ${from.schedules.map((s) => s.name).join(', ')} (group "${from.scheduler.group}")`);
  };
  if (config.schedules.length > 0) begin(config);
  return {
    update(next) {
      if (scheduler === undefined) {
        if (next.schedules.length > 0) begin(next);
        return;
      }
      // a changed group or URL needs a new election connection: applied at the next start
      if (next.scheduler.group !== running.scheduler.group || next.url !== running.url) log.warn('schedules: a new scheduler.group or url applies after a restart of the supervisor');
      scheduler.update(next.schedules);
    },
    stop: () => scheduler?.stop() ?? Promise.resolve(),
  };
}
