import { fileURLToPath } from 'node:url';
import { overridesToFlags } from '../worker/run-flags.js';
import type { WorkerTypeConfig } from './config.js';

/** The `rabbit-worker` bin of this installation (dist/supervisor → bin, and src/supervisor → bin under tsx). */
export const BIN_PATH = fileURLToPath(new URL('../../bin/rabbit-worker.js', import.meta.url));

/** Name of process `index` (1-based) of a type: `resize-image_01`, as supervisord's `%(program_name)s_%(process_num)02d`. */
export function processName(type: string, index: number): string {
  return `${type}_${String(index).padStart(2, '0')}`;
}

/**
 * The command line that runs one process of `type`: `<node> <bin> run <file> --name <type> <overrides as flags>`.
 * The broker URL is not on it (it would show passwords in `ps`): it travels as AMQP_URL, see {@link workerEnv}.
 */
export function runCommand(type: WorkerTypeConfig, node = process.execPath, bin = BIN_PATH): { command: string; args: string[] } {
  const args = [bin, 'run', type.file, '--name', type.name, ...overridesToFlags(type.overrides)];
  if (type.connectAttempts !== undefined) args.push('--connect-attempts', String(type.connectAttempts));
  return { command: node, args };
}

/** The variables a process of `type` gets on top of the supervisor's own environment. */
export function workerEnv(type: WorkerTypeConfig): Record<string, string> {
  return { ...type.env, ...(type.url !== undefined ? { AMQP_URL: type.url } : {}) };
}
