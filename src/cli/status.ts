import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { controlAddress, getStatus } from '../supervisor/control-client.js';
import { formatStatusTable } from '../supervisor/status-table.js';

/** `--port` given on the command line, checked. */
export function portFlag(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`--port: expected a port number, got "${raw}"`);
  return port;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("every process of the running supervisor: state, pid, uptime, restarts, last exit, messages handled")
    .argument('[config]', 'config file or directory; its control section says where the supervisor listens')
    .option('--json', 'print the JSON the control endpoint returns')
    .option('--port <port>', 'control port, instead of reading the config file')
    .action(async (config: string | undefined, flags: { json?: boolean; port?: string }) => {
      const status = await getStatus(await controlAddress(config, portFlag(flags.port)));
      process.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatusTable(status));
    });
}
