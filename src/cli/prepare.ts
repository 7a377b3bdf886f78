import { existsSync, statSync } from 'node:fs';
import { basename, extname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { ErrorCode, ExitCode, RabbitWorkerError } from '../errors.js';
import { loadConfig } from '../supervisor/config.js';
import { prepareWorker, type PreparedWorker } from '../worker/compile/prepare-worker.js';

/** A config file rather than a worker file: a folder, `rabbit-worker.config.*`, or JSON/YAML. */
function isConfig(path: string): boolean {
  if (existsSync(path) && statSync(path).isDirectory()) return true;
  return basename(path).startsWith('rabbit-worker.config.') || ['.json', '.yaml', '.yml'].includes(extname(path).toLowerCase());
}

/** The worker files that `targets` name: themselves, or the files of a config's worker types. */
async function workerFiles(targets: string[]): Promise<string[]> {
  if (targets.length === 0) return (await loadConfig()).workers.map((w) => w.file);
  const files: string[] = [];
  for (const target of targets) {
    const path = resolve(target);
    if (isConfig(path)) files.push(...(await loadConfig(target)).workers.map((w) => w.file));
    else if (!existsSync(path)) throw new RabbitWorkerError(ErrorCode.WORKER_LOAD_FAILED, `worker file not found: ${path}`);
    else files.push(path);
  }
  return [...new Set(files)];
}

/** Relative to the working directory when below it, else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}

function describe(prepared: PreparedWorker): string {
  const file = shown(prepared.source);
  if (prepared.kind === 'plain') return `${file}: JavaScript, imported as it is`;
  if (prepared.kind === 'tsx') return `${file}: ${prepared.failed ? 'cannot be compiled' : 'will load through tsx'}: ${prepared.reason}`;
  const output = shown(fileURLToPath(prepared.url));
  return prepared.cached ? `${file}: compiled already (${output})` : `${file}: compiled in ${Math.round(prepared.ms)} ms (${prepared.inputs} inputs) → ${output}`;
}

/**
 * `rabbit-worker prepare`: warms the compile cache at deploy time, for workers that supervisord or systemd
 * start (the embedded supervisor does it by itself). Exit code 1 when a worker cannot be compiled.
 */
export function registerPrepare(program: Command): void {
  program
    .command('prepare')
    .description('compile TypeScript workers into node_modules/.cache/rabbit-worker, so that they start without compiling (run it after each deploy)')
    .argument('[targets...]', 'worker files, config files or directories (default: the config file of the working directory)')
    .action(async (targets: string[]) => {
      let failed = false;
      for (const file of await workerFiles(targets)) {
        const prepared = await prepareWorker(file);
        if (prepared.kind === 'tsx' && prepared.failed) failed = true;
        process.stdout.write(`${describe(prepared)}\n`);
      }
      process.exitCode = failed ? ExitCode.FAILURE : ExitCode.OK;
    });
}
