import { ConfigError } from '../errors.js';
import type { SettingsOverrides, WorkerSettings } from './options.js';

/** Every setting that `rabbit-worker run` (and the config file) may override, with its flag. */
export const RUN_FLAGS = {
  queue: '--queue',
  ttl: '--ttl',
  prefetch: '--prefetch',
  maxMessages: '--max-messages',
  memoryLimitMb: '--memory-limit-mb',
  maxAttempts: '--max-attempts',
  stopTimeout: '--stop-timeout',
  isolation: '--isolation',
  queueType: '--queue-type',
  spareMemoryMultiplier: '--spare-memory-multiplier',
  retryDelayMs: '--retry-delay-ms',
  retryBackoff: '--retry-backoff',
  retryMaxDelayMs: '--retry-max-delay-ms',
  messageTimeout: '--message-timeout',
  consumerTimeout: '--consumer-timeout',
  threads: '--threads',
  httpPort: '--http-port',
  metrics: '--metrics',
} as const satisfies Record<keyof WorkerSettings, string>;

const NUMERIC = new Set<keyof WorkerSettings>(['ttl', 'prefetch', 'maxMessages', 'memoryLimitMb', 'maxAttempts', 'stopTimeout', 'spareMemoryMultiplier', 'retryDelayMs', 'retryBackoff', 'retryMaxDelayMs', 'messageTimeout', 'consumerTimeout', 'threads', 'httpPort']);
const BOOLEAN = new Set<keyof WorkerSettings>(['metrics']);
const TRUE = new Set(['true', 'on', 'yes', '1']);
const FALSE = new Set(['false', 'off', 'no', '0']);

/** Commander's option values (camelCase keys, strings) → typed overrides; a non-number names its flag. */
export function overridesFromFlags(values: Record<string, unknown>): SettingsOverrides {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(RUN_FLAGS) as Array<keyof WorkerSettings>) {
    const raw = values[key];
    if (raw === undefined) continue;
    if (NUMERIC.has(key)) {
      const value = Number(raw);
      if (typeof raw !== 'number' && (String(raw).trim() === '' || !Number.isFinite(value))) {
        throw new ConfigError(`${RUN_FLAGS[key]}: expected a number, got "${String(raw)}"`);
      }
      out[key] = value;
    } else if (BOOLEAN.has(key) && typeof raw !== 'boolean') {
      const text = String(raw).trim().toLowerCase();
      if (!TRUE.has(text) && !FALSE.has(text)) throw new ConfigError(`${RUN_FLAGS[key]}: expected on or off, got "${String(raw)}"`);
      out[key] = TRUE.has(text);
    } else out[key] = raw;
  }
  return out as SettingsOverrides;
}

/** Overrides → `run` arguments, for process managers that start `rabbit-worker run` (supervisord, systemd). */
export function overridesToFlags(overrides: SettingsOverrides): string[] {
  const args: string[] = [];
  for (const key of Object.keys(RUN_FLAGS) as Array<keyof WorkerSettings>) {
    const value = overrides[key];
    if (value !== undefined) args.push(RUN_FLAGS[key], String(value));
  }
  return args;
}
