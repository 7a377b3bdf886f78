import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { ErrorCode, RabbitWorkerError } from '../errors.js';
import { isWorkerTaskClass, type WorkerTaskClass } from './worker-task.js';

/**
 * Imports a worker file — TypeScript or JavaScript, in an ESM or a CommonJS project, with no build step —
 * and returns the WorkerTask subclass it exports by default. tsx compiles on the fly; CommonJS interop can
 * nest the class under `default.default`, so both levels are looked at.
 * A missing file or a missing default export is a WORKER_LOAD_FAILED error (exit code 2); an error thrown
 * by the file itself propagates unchanged (exit code 1), so that a process manager retries it.
 */
export async function loadWorkerClass(file: string): Promise<WorkerTaskClass> {
  const path = resolve(file);
  if (!existsSync(path)) {
    throw new RabbitWorkerError(ErrorCode.WORKER_LOAD_FAILED, `worker file not found: ${path}`);
  }
  const module = (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>;
  const candidates = [module.default, (module.default as Record<string, unknown> | undefined)?.default];
  const found = candidates.find(isWorkerTaskClass);
  if (found === undefined) {
    throw new RabbitWorkerError(
      ErrorCode.WORKER_LOAD_FAILED,
      `${file} has no WorkerTask default export: write "export default class MyWorker extends WorkerTask { … }"`,
    );
  }
  return found;
}
