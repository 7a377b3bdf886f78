import { relative } from 'node:path';
import { pino } from 'pino';
import { ConfigError } from '../errors.js';
import { CRITICAL_LEVEL, Logger } from '../log/logger.js';
import { normalizeSettings, type WorkerSettings } from '../worker/options.js';
import { readSettings } from '../worker/worker-task.js';
import { STOP_MARGIN_SECONDS, type SupervisorConfig, type WorkerTypeConfig } from './config.js';

/** One worker type with the settings its processes will really run with. */
export interface EffectiveWorkerType {
  type: WorkerTypeConfig;
  /** `initialize()`'s values, then the config file's overrides, validated: what `rabbit-worker run` would use. */
  settings: WorkerSettings;
}

/**
 * A logger for the worker's `initialize()` that writes to stderr: the generators print their output on
 * stdout, and a worker that logs while it configures itself must not end up inside a YAML file.
 */
function stderrLogger(): Logger {
  return new Logger(pino<'critical'>({ level: process.env.LOG_LEVEL ?? 'warn', customLevels: { critical: CRITICAL_LEVEL } }, pino.destination({ dest: 2, sync: true })));
}

/** The first line of an error's message, for a one-line ConfigError. */
function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'unknown error';
}

/**
 * The effective settings of one type, found the way `rabbit-worker run` finds them: import the worker
 * file, construct its class with no arguments, call `initialize()`, then apply the config file's overrides
 * and validate (`readSettings` + `normalizeSettings`). The config file only holds overrides; the queue,
 * `stopTimeout`, `memoryLimitMb` and the rest usually live in `initialize()`.
 *
 * Everything that goes wrong (file missing, no WorkerTask default export, the file throws while loading,
 * a bad setting) is one {@link ConfigError} line naming the type and the file.
 */
export async function loadEffectiveSettings(type: WorkerTypeConfig, configDir?: string): Promise<WorkerSettings> {
  const shown = configDir === undefined ? type.file : relative(configDir, type.file);
  let raw: ReturnType<typeof readSettings>;
  try {
    // loaded on demand: tsx's loader is only needed once a worker file is read
    const { loadWorkerClass } = await import('../worker/load-worker.js');
    const WorkerClass = await loadWorkerClass(type.file);
    const task = new WorkerClass();
    task.logger = stderrLogger();
    task.initialize();
    raw = readSettings(task);
  } catch (error) {
    throw new ConfigError(`workers.${type.name} (${shown}): the worker could not be loaded: ${firstLine(error)}`, { cause: error });
  }
  try {
    return normalizeSettings(raw, type.overrides);
  } catch (error) {
    throw new ConfigError(`workers.${type.name} (${shown}): ${firstLine(error)}`, { cause: error });
  }
}

/** {@link loadEffectiveSettings} for every type of the config, in the config file's order. */
export async function loadEffectiveTypes(config: SupervisorConfig): Promise<EffectiveWorkerType[]> {
  const out: EffectiveWorkerType[] = [];
  // one after the other: worker files may share module state, and the messages come in the file's order
  for (const type of config.workers) out.push({ type, settings: await loadEffectiveSettings(type, config.dir) });
  return out;
}

/**
 * The config with each type's stop wait covering the worker's *effective* `stopTimeout` (a worker's
 * `initialize()` may set a longer one than the config file says): supervisord's `stopwaitsecs` and
 * systemd's `TimeoutStopSec` must never SIGKILL a worker still draining within its stopTimeout. A worker
 * that cannot be loaded here keeps the config's value, with a warning on stderr.
 */
export async function withEffectiveStopWaits(config: SupervisorConfig, warn: (line: string) => void): Promise<SupervisorConfig> {
  const workers: WorkerTypeConfig[] = [];
  for (const type of config.workers) {
    try {
      const settings = await loadEffectiveSettings(type, config.dir);
      workers.push({ ...type, stopWaitSeconds: Math.max(type.stopWaitSeconds, settings.stopTimeout + STOP_MARGIN_SECONDS) });
    } catch (error) {
      warn(`${firstLine(error)}; its stop wait follows the config file (${type.stopWaitSeconds} s)`);
      workers.push(type);
    }
  }
  return { ...config, workers };
}
