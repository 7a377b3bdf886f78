import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { hasPassword } from '../broker/url.js';
import { workerEnv } from './command.js';
import type { WorkerTypeConfig } from './config.js';

/** Names of environment variables whose values are secrets, whatever they hold. */
const SECRET_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY/i;

/** True for a variable that must not be written into a generated config: a URL with a password, or a secret-looking name. */
export function isSecret(name: string, value: string): boolean {
  if (SECRET_NAME.test(name)) return true;
  return value.split(',').some((part) => /^amqps?:\/\//i.test(part.trim()) && hasPassword(part.trim()));
}

/** A worker type's environment, split: what a generated file may show, and what must come from elsewhere. */
export function splitEnv(type: WorkerTypeConfig): { plain: Record<string, string>; secret: Record<string, string> } {
  const plain: Record<string, string> = {};
  const secret: Record<string, string> = {};
  for (const [name, value] of Object.entries(workerEnv(type))) (isSecret(name, value) ? secret : plain)[name] = value;
  return { plain, secret };
}

/** `RABBIT_WORKER_RESIZE_IMAGE_AMQP_URL`: a variable of one type, in an environment shared by every type (supervisord's). */
export function sharedName(type: string, name: string): string {
  return `RABBIT_WORKER_${type.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_${name}`;
}

/** One `KEY=value` line per variable, for systemd's EnvironmentFile= (values quoted, " and \ escaped). */
export function envFileText(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([key, value]) => `${key}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
    .join('\n')
    .concat('\n');
}

/**
 * Writes an environment file only its owner can read (0600, its directory created 0700), replacing any:
 * the secrets a generated config refers to but never contains.
 */
export function writeSecretFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600); // an existing file keeps its mode otherwise
}
