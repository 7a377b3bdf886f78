import type { Command } from 'commander';
import { supervise } from '../supervisor/supervise.js';
import { ConfigError } from '../errors.js';

export function registerSupervise(program: Command): void {
  program
    .command('supervise')
    .description('run every worker type of the config file, restart what ends, stop them all on SIGTERM/SIGINT (SIGHUP reloads)')
    .argument('[config]', 'config file or directory (default: rabbit-worker.config.{ts,js,json,yaml,yml} in the working directory)')
    .option('--port <port>', 'control endpoint port, instead of control.port (0 = any free port)')
    .action(async (config: string | undefined, flags: { port?: string }) => {
      let port: number | undefined;
      if (flags.port !== undefined) {
        port = Number(flags.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port: expected a port number, got "${flags.port}"`);
      }
      process.exitCode = await supervise({ ...(config !== undefined ? { config } : {}), ...(port !== undefined ? { port } : {}) });
    });
}
