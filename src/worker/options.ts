import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { DEFAULT_SETTINGS, type WorkerSettings } from './settings.js';

export { DEFAULT_SETTINGS, SPARE_MEMORY_UNIT_MB, type Isolation, type QueueType, type WorkerSettings } from './settings.js';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);

/** One schema: `initialize()`, config files and CLI flags all go through it. */
export const settingsSchema = z.strictObject({
  queue: z.string().min(1, 'no queue configured: call this.setQueue(name) in initialize()').max(255),
  ttl: z.number().min(0),
  prefetch: int(1, 65535),
  maxMessages: int(0),
  memoryLimitMb: int(16),
  maxAttempts: int(1),
  stopTimeout: z.number().min(0),
  isolation: z.enum(['thread', 'none']),
  queueType: z.enum(['quorum', 'classic']),
  spareMemoryMultiplier: z.number().positive().max(1024),
  retryDelayMs: int(0, 86_400_000),
  retryBackoff: z.number().min(1).max(100),
  retryMaxDelayMs: int(1, 86_400_000),
  messageTimeout: z.number().min(0).max(86_400),
  consumerTimeout: z.number().positive().max(7 * 86_400),
  threads: int(1, 64),
  httpPort: int(0, 65535),
  metrics: z.boolean(),
  maxPriority: int(0, 255),
});

/** The subset of settings that the config file and command line may override. */
export type SettingsOverrides = Partial<WorkerSettings>;

/**
 * Merges the worker's own values with the overrides (which win) and validates the result.
 * Throws a {@link ConfigError} whose one-line message names the bad field.
 */
export function normalizeSettings(fromWorker: Partial<Record<keyof WorkerSettings, unknown>>, overrides: SettingsOverrides = {}): WorkerSettings {
  const merged: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  for (const layer of [fromWorker, overrides]) {
    for (const [key, value] of Object.entries(layer)) if (value !== undefined) merged[key] = value;
  }
  if (merged.queue === undefined) merged.queue = '';
  const result = settingsSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(describeIssues(result.error));
  if (result.data.maxPriority > 0 && result.data.queueType !== 'classic') {
    throw new ConfigError(`maxPriority: priorities need queueType 'classic' (RabbitMQ ignores them on quorum queues before 4.0); got queueType '${result.data.queueType}'`);
  }
  return result.data;
}

/** Checks the overrides alone (every key optional), before the worker is loaded; a ConfigError names the bad field. */
export function checkOverrides(overrides: SettingsOverrides): void {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  const result = settingsSchema.partial().safeParse(defined);
  if (!result.success) throw new ConfigError(describeIssues(result.error));
}

/** `ttl: Too small: expected number to be >=0; isolation: …`, on one line. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join('.');
      if (issue.code === 'unrecognized_keys') return `unknown setting ${issue.keys.map((k) => `"${k}"`).join(', ')}${path ? ` in ${path}` : ''}`;
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
