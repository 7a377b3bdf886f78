import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { describeIssues, settingsSchema, type SettingsOverrides, type WorkerSettings } from '../worker/options.js';
import { RUN_FLAGS } from '../worker/run-flags.js';
import { isScheduleName, resolveSchedules, scheduleSchema, schedulerSchema, type ScheduleConfig } from './schedules/schedule-config.js';
import { defaultKubernetesOptions, kubernetesSchema, kubernetesTypeSchema, type KubernetesOptions, type KubernetesTypeOptions } from './kubernetes-options.js';

/** Looked for, in this order, in the working directory (or in the directory given as `[config]`). */
export const CONFIG_FILE_NAMES = [
  'rabbit-worker.config.ts',
  'rabbit-worker.config.mts',
  'rabbit-worker.config.js',
  'rabbit-worker.config.mjs',
  'rabbit-worker.config.json',
  'rabbit-worker.config.yaml',
  'rabbit-worker.config.yml',
] as const;

/** The control endpoint's port when the config file names none. */
export const DEFAULT_CONTROL_PORT = 9325;
/** A process counts as started once it is consuming and has been up this long. */
export const DEFAULT_START_SECONDS = 1;
/** Failed starts retried before a process goes FATAL (as supervisord's `startretries`). */
export const DEFAULT_START_RETRIES = 3;
/** Added to `stopTimeout` before a stopping process is SIGKILLed: time for `shutdown()` and closing. */
export const STOP_MARGIN_SECONDS = 10;
/** `stopTimeout` of a worker whose config does not override it (the framework's default). */
export const DEFAULT_STOP_TIMEOUT = 30;

const TYPE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const envValue = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));

/** One worker type: the supervisor's own keys plus any `run` override (validated by the worker's schema). */
const workerTypeSchema = settingsSchema.partial().extend({
  file: z.string().min(1, 'required: the worker file'),
  processes: z.number().int().min(0).max(256).default(1),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _'), envValue).default({}),
  /** AMQP URL(s), comma-separated; given to the child as AMQP_URL (never on its command line). */
  url: z.string().min(1).optional(),
  connectAttempts: z.number().int().min(1).max(1000).optional(),
  startSeconds: z.number().positive().max(3600).optional(),
  startRetries: z.number().int().min(0).max(1000).default(DEFAULT_START_RETRIES),
  /** SIGTERM → SIGKILL delay; default `stopTimeout` + 10 s. */
  stopWaitSeconds: z.number().positive().max(86_400).optional(),
  /** Read by `rabbit-worker kubernetes` only: see kubernetes-options.ts. */
  kubernetes: kubernetesTypeSchema.optional(),
});

/** The control endpoint's address when the config file names none: loopback only. */
export const DEFAULT_CONTROL_HOST = '127.0.0.1';

const controlSchema = z.strictObject({
  port: z.number().int().min(1).max(65535).default(DEFAULT_CONTROL_PORT),
  /** The address to bind; anything but loopback exposes the endpoint (token-protected) to the network. */
  host: z.string().min(1).max(255).default(DEFAULT_CONTROL_HOST),
  /**
   * The token, instead of a generated one (RABBIT_WORKER_TOKEN does the same without putting it in a file
   * that others may read). At least 16 characters.
   */
  token: z.string().min(16, 'at least 16 characters').max(512).optional(),
  /** Host names (or host:port) the endpoint answers to, besides its address and localhost. */
  allowedHosts: z.array(z.string().min(1).max(255).regex(/^[A-Za-z0-9.:[\]-]+$/, 'a host name, an address, or host:port')).default([]),
  /** Every write (scale, reload, replay, purge) answers 403. */
  readOnly: z.boolean().default(false),
});

const configSchema = z.strictObject({
  workers: z.record(z.string(), workerTypeSchema),
  control: controlSchema.default({ port: DEFAULT_CONTROL_PORT, host: DEFAULT_CONTROL_HOST, allowedHosts: [], readOnly: false }),
  /** Default AMQP URL(s) for every type. */
  url: z.string().min(1).optional(),
  /** Read by `rabbit-worker kubernetes` only: see kubernetes-options.ts. */
  kubernetes: kubernetesSchema.optional(),
  /** Messages published on a timetable, fired once per tick across every supervisor: see schedules/. */
  schedules: z.record(z.string(), scheduleSchema).optional(),
  /** The schedules' leader election: see schedules/schedule-config.ts. */
  scheduler: schedulerSchema.optional(),
});

/** What a config file may contain, for `defineConfig` in a TypeScript config. */
export type SupervisorConfigInput = z.input<typeof configSchema>;

/** One worker type, resolved: absolute file, defaults applied. */
export interface WorkerTypeConfig {
  name: string;
  /** Absolute path of the worker file. */
  file: string;
  processes: number;
  env: Record<string, string>;
  /** The `run` overrides (ttl, prefetch, …), already valid for the worker's schema. */
  overrides: SettingsOverrides;
  url?: string;
  connectAttempts?: number;
  startSeconds: number;
  startRetries: number;
  /** Seconds between SIGTERM and SIGKILL when the process is stopped. */
  stopWaitSeconds: number;
  /** `workers.<type>.kubernetes`, for `rabbit-worker kubernetes`. */
  kubernetes?: KubernetesTypeOptions;
}

/** `control:`, defaults applied. */
export interface ControlConfig {
  host: string;
  port: number;
  /** From the config file, if it names one. */
  token?: string;
  allowedHosts: string[];
  readOnly: boolean;
}

export interface SupervisorConfig {
  /** Absolute path of the config file. */
  path: string;
  /** Its directory: worker files and the processes' working directory are relative to it. */
  dir: string;
  workers: WorkerTypeConfig[];
  control: ControlConfig;
  /** The `kubernetes:` section, defaults applied (used by `rabbit-worker kubernetes` only). */
  kubernetes: KubernetesOptions;
  /** `schedules:`, sorted by name; empty when there are none. */
  schedules: ScheduleConfig[];
  /** `scheduler:`, defaults applied. */
  scheduler: { group: string };
  /** The top-level `url`, if any (the schedules publish through it, else AMQP_URL). */
  url?: string;
}

/** `[config]` → the config file's absolute path: a file, a directory to search, or the cwd. */
export function findConfigFile(given?: string, cwd = process.cwd()): string {
  const target = given === undefined ? cwd : resolve(cwd, given);
  if (given !== undefined && existsSync(target) && statSync(target).isFile()) return target;
  if (given !== undefined && !existsSync(target)) throw new ConfigError(`config file not found: ${target}`);
  for (const name of CONFIG_FILE_NAMES) {
    const candidate = join(target, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new ConfigError(`no config file in ${target}: create rabbit-worker.config.yaml (or .ts, .js, .json), or pass its path`);
}

async function readRaw(path: string): Promise<unknown> {
  const ext = extname(path).toLowerCase();
  try {
    if (ext === '.json') return JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (ext === '.yaml' || ext === '.yml') {
      const { parse } = await import('yaml');
      return parse(readFileSync(path, 'utf8')) as unknown;
    }
  } catch (error) {
    throw new ConfigError(`${path}: ${(error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'unreadable'}`);
  }
  if (['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'].includes(ext)) {
    // a fresh query string, so that a reload reads the file again instead of the module cache
    const url = `${pathToFileURL(path).href}?t=${Date.now()}`;
    const { tsImport } = await import('tsx/esm/api');
    const module = (await tsImport(url, import.meta.url)) as Record<string, unknown>;
    let value: unknown = module.default;
    if (value !== null && typeof value === 'object' && 'default' in value && !('workers' in value)) value = (value as { default: unknown }).default;
    if (typeof value === 'function') value = await (value as () => unknown)();
    if (value === undefined) throw new ConfigError(`${path} has no default export: write "export default { workers: { … } }"`);
    return value;
  }
  throw new ConfigError(`${path}: unsupported config file extension "${ext}" (use .ts, .js, .json, .yaml or .yml)`);
}

/** Parses and validates a config object; `path` is where it came from (for messages and relative files). */
export function parseConfig(raw: unknown, path: string): SupervisorConfig {
  const rawWorkers = (raw as { workers?: unknown } | null)?.workers;
  if (rawWorkers !== null && typeof rawWorkers === 'object') {
    const bad = Object.keys(rawWorkers).find((name) => !TYPE_NAME.test(name));
    if (bad !== undefined) {
      throw new ConfigError(`${path}: workers."${bad}": worker type names are 1-64 letters, digits, ".", "_" and "-" (they name processes, programs and units)`);
    }
  }
  const rawSchedules = (raw as { schedules?: unknown } | null)?.schedules;
  if (rawSchedules !== null && typeof rawSchedules === 'object') {
    const bad = Object.keys(rawSchedules).find((name) => !isScheduleName(name));
    if (bad !== undefined) throw new ConfigError(`${path}: schedules."${bad}": schedule names are 1-64 letters, digits, ".", "_" and "-" (they appear in message ids)`);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`${path}: ${describeIssues(result.error)}`);
  const dir = dirname(path);
  const workers: WorkerTypeConfig[] = [];
  for (const [name, entry] of Object.entries(result.data.workers)) {
    const { file, processes, env, url, connectAttempts, startSeconds, startRetries, stopWaitSeconds, kubernetes, ...rest } = entry;
    const overrides: SettingsOverrides = {};
    for (const key of Object.keys(RUN_FLAGS) as Array<keyof WorkerSettings>) {
      if (rest[key] !== undefined) (overrides as Record<string, unknown>)[key] = rest[key];
    }
    const absolute = isAbsolute(file) ? file : resolve(dir, file);
    if (!existsSync(absolute)) throw new ConfigError(`${path}: workers.${name}.file: not found: ${absolute}`);
    const ttl = overrides.ttl ?? 0;
    const start = startSeconds ?? (ttl > 0 ? Math.min(DEFAULT_START_SECONDS, ttl) : DEFAULT_START_SECONDS);
    if (ttl > 0 && start > ttl) {
      throw new ConfigError(`${path}: workers.${name}.startSeconds (${start}) must not exceed its ttl (${ttl}), or every TTL exit would count as a failed start`);
    }
    const typeUrl = url ?? result.data.url;
    workers.push({
      name,
      file: absolute,
      processes,
      env,
      overrides,
      ...(typeUrl !== undefined ? { url: typeUrl } : {}),
      ...(connectAttempts !== undefined ? { connectAttempts } : {}),
      startSeconds: start,
      startRetries,
      stopWaitSeconds: stopWaitSeconds ?? (overrides.stopTimeout ?? DEFAULT_STOP_TIMEOUT) + STOP_MARGIN_SECONDS,
      ...(kubernetes !== undefined ? { kubernetes } : {}),
    });
  }
  const { token, ...control } = result.data.control;
  return {
    path,
    dir,
    workers,
    control: { ...control, ...(token !== undefined ? { token } : {}) },
    kubernetes: result.data.kubernetes ?? defaultKubernetesOptions(),
    schedules: resolveSchedules(result.data.schedules ?? {}),
    scheduler: { group: result.data.scheduler?.group ?? 'default' },
    ...(result.data.url !== undefined ? { url: result.data.url } : {}),
  };
}

/** Finds, reads and validates the config file. Every problem is a one-line {@link ConfigError} (exit code 2). */
export async function loadConfig(given?: string, cwd = process.cwd()): Promise<SupervisorConfig> {
  const path = findConfigFile(given, cwd);
  return parseConfig(await readRaw(path), path);
}
