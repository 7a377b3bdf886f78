import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, RabbitWorkerError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { prepareWorker, type PreparedWorker } from './compile/prepare-worker.js';
import { isWorkerTaskClass, type WorkerTaskClass } from './worker-task.js';

/** One line about how the worker was loaded: debug when all went to plan, a warning when esbuild failed. */
function report(prepared: PreparedWorker, logger: Logger): void {
  const file = relative(process.cwd(), prepared.source) || prepared.source;
  if (prepared.kind === 'compiled') {
    const fields = { file, compileMs: Math.round(prepared.ms), inputs: prepared.inputs };
    if (prepared.cached) logger.debug(`loaded ${file} from the compile cache`, fields);
    else logger.info(`compiled ${file} (${prepared.inputs} inputs) in ${Math.round(prepared.ms)} ms`, fields);
  } else if (prepared.kind === 'tsx') {
    const line = `loading ${file} through tsx: ${prepared.reason}`;
    if (prepared.failed) logger.warn(line, { file });
    else logger.info(line, { file });
  }
}

/**
 * Imports a worker file — TypeScript or JavaScript, in an ESM or a CommonJS project, with no build step —
 * and returns the WorkerTask subclass it exports by default. TypeScript is compiled ahead of time into the
 * app's `node_modules/.cache/rabbit-worker/` (see `compile/prepare-worker.ts`) and imported as plain
 * JavaScript with its source map on, so stack frames name the `.ts` lines; tsx, loaded only then, takes over
 * when that cannot be done. CommonJS interop can nest the class under `default.default`, so both levels are
 * looked at. A missing file or a missing default export is a WORKER_LOAD_FAILED error (exit code 2); an
 * error thrown by the file itself propagates unchanged (exit code 1), so that a process manager retries it.
 */
export async function loadWorkerClass(file: string, logger?: Logger): Promise<WorkerTaskClass> {
  const path = resolve(file);
  if (!existsSync(path)) {
    throw new RabbitWorkerError(ErrorCode.WORKER_LOAD_FAILED, `worker file not found: ${path}`);
  }
  const prepared = await prepareWorker(path);
  // no logger, no line: a caller that prints generated output on stdout must not find log lines in it
  if (logger !== undefined) report(prepared, logger);
  let module: Record<string, unknown>;
  if (prepared.kind === 'tsx') {
    const { tsImport } = await import('tsx/esm/api');
    module = (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>;
  } else {
    // Before the import: Node reads a module's source map when it loads it, and only if maps are on then.
    // Mapping costs nothing until an error's stack is read; this thread's errors only (see docs/worker.md).
    if (prepared.kind === 'compiled') process.setSourceMapsEnabled(true);
    module = (await import(prepared.url)) as Record<string, unknown>;
  }
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
