/**
 * What must be undone however the run ends (success, error, Ctrl-C): stop the supervisor and its
 * workers, stop our broker node, close connections. Tasks run once, newest first, each bounded by its
 * own code and guarded, so that one failing never keeps the next from running.
 */
const tasks: Array<{ name: string; run: () => Promise<unknown> }> = [];
let running: Promise<void> | undefined;

export function onCleanup(name: string, run: () => Promise<unknown>): void {
  tasks.push({ name, run });
}

export function cleanup(log: (line: string) => void): Promise<void> {
  running ??= (async () => {
    for (const task of tasks.splice(0).reverse()) {
      try {
        await task.run();
      } catch (error) {
        log(`cleanup: ${task.name} failed: ${(error as Error).message}`);
      }
    }
  })();
  return running;
}

/** Ctrl-C or SIGTERM: clean up, then exit 130. A second one while cleaning up is ignored (it is bounded). */
export function installSignalCleanup(log: (line: string) => void, onSignal: () => void): void {
  let seen = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (seen) return;
    seen = true;
    log(`${signal}: stopping the workers and the chaos node, then exiting`);
    onSignal();
    void cleanup(log).finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
