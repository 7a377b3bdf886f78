import type { Command } from 'commander';
import { ConfigError } from '../errors.js';

/** `--url` and `--connect-attempts`, shared by every command that talks to the broker. */
export function connectOptionFlags(command: Command): Command {
  return command
    .option('--url <urls>', 'broker URL(s), comma-separated for a cluster (default: $AMQP_URL or amqp://guest:guest@127.0.0.1:5672)')
    .option('--connect-attempts <n>', 'connection attempts before exit code 3', '5');
}

export function positiveInt(raw: unknown, flag: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`${flag}: expected a positive integer, got "${String(raw)}"`);
  return value;
}
