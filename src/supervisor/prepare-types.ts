/**
 * Before the supervisor spawns a worker type's processes, it compiles the type's file once, so that N
 * children find a warm cache instead of each compiling the same file (2–9 s apiece on a busy host with
 * tsx). Nothing here stops a type from starting: its processes load the worker themselves either way.
 */
import { relative } from 'node:path';
import type { Logger } from '../log/logger.js';
import { prepareWorker } from '../worker/compile/prepare-worker.js';
import type { WorkerTypeConfig } from './config.js';

/** Prepares the file of every type (each file once, in order); logs one line per file. Never throws. */
export async function prepareTypes(types: WorkerTypeConfig[], logger: Logger, cwd = process.cwd()): Promise<void> {
  const done = new Set<string>();
  for (const type of types) {
    if (done.has(type.file)) continue;
    done.add(type.file);
    const file = relative(cwd, type.file) || type.file;
    const fields = { type: type.name, file };
    try {
      const prepared = await prepareWorker(type.file);
      if (prepared.kind === 'compiled' && !prepared.cached) logger.info(`compiled ${file} for ${type.name} in ${Math.round(prepared.ms)} ms`, { ...fields, compileMs: Math.round(prepared.ms) });
      else if (prepared.kind === 'compiled') logger.debug(`${file} is compiled already`, fields);
      else if (prepared.kind === 'tsx' && prepared.failed) {
        logger.critical(`cannot compile ${file} for ${type.name}: ${prepared.reason}; its processes will load it through tsx`, fields);
      } else if (prepared.kind === 'tsx') logger.info(`${type.name} loads ${file} through tsx: ${prepared.reason}`, fields);
    } catch (error) {
      logger.critical(`cannot prepare ${file} for ${type.name}: ${error instanceof Error ? error.message : String(error)}; its processes will load it on their own`, fields);
    }
  }
}
