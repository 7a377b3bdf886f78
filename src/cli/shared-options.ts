import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { hasPassword, parseUrls } from '../broker/url.js';
import { ConfigError } from '../errors.js';

/** `--url`, `--url-file` and `--connect-attempts`, shared by every command that talks to the broker. */
export function connectOptionFlags(command: Command): Command {
  return urlFlags(command).option('--connect-attempts <n>', 'rounds over every broker URL before exit code 3', '5');
}

/** `--url` and `--url-file`. */
export function urlFlags(command: Command): Command {
  return command
    .option('--url <urls>', 'broker URL(s), comma-separated for a cluster (default: $AMQP_URL or amqp://guest:guest@127.0.0.1:5672); a password here is visible in ps: prefer AMQP_URL or --url-file')
    .option('--url-file <path>', 'read the broker URL(s) from this file (keep it mode 0600)');
}

/**
 * The broker URLs from `--url-file`, `--url`, `AMQP_URL` or the default. A password given with `--url` is
 * visible to every local user (`ps`, /proc): said once, on stderr.
 */
export function urlsFrom(flags: Record<string, unknown>): string[] {
  if (typeof flags.urlFile === 'string') {
    let text: string;
    try {
      text = readFileSync(flags.urlFile, 'utf8');
    } catch (error) {
      throw new ConfigError(`--url-file: cannot read ${flags.urlFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const urls = parseUrls(text.trim());
    if (text.trim() === '') throw new ConfigError(`--url-file: ${flags.urlFile} is empty`);
    return urls;
  }
  const url = typeof flags.url === 'string' ? flags.url : undefined;
  if (url !== undefined && url.split(',').some((u) => hasPassword(u.trim()))) {
    process.stderr.write('rabbit-worker: warning: the password in --url is visible to every local user (ps); set AMQP_URL or use --url-file\n');
  }
  return parseUrls(url);
}

export function positiveInt(raw: unknown, flag: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`${flag}: expected a positive integer, got "${String(raw)}"`);
  return value;
}

export function nonNegativeInt(raw: unknown, flag: string): number {
  // Number('') is 0: an empty value (an unset variable in a script) must not pass for a deliberate 0
  const value = typeof raw === 'string' && raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`${flag}: expected an integer of 0 or more, got "${String(raw)}"`);
  return value;
}
