import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { controlAddress, postReload, postScale } from '../supervisor/control-client.js';
import { portFlag } from './status.js';

export function registerScale(program: Command): void {
  program
    .command('scale')
    .description('change the number of processes of a worker type in the running supervisor (extra processes stop gracefully)')
    .argument('<type>', 'worker type, as named in the config file')
    .argument('<n>', 'process count')
    .argument('[config]', 'config file or directory; its control.port says where the supervisor listens')
    .option('--port <port>', 'control port, instead of reading the config file')
    .action(async (type: string, raw: string, config: string | undefined, flags: { port?: string }) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) throw new ConfigError(`<n>: expected a process count (0 or more), got "${raw}"`);
      const result = await postScale(await controlAddress(config, portFlag(flags.port)), type, n);
      process.stdout.write(`${result.name}: ${result.desired} process(es) wanted, ${result.running} running\n`);
    });
}

export function registerReload(program: Command): void {
  program
    .command('reload')
    .description('make the running supervisor read its config file again (as SIGHUP does)')
    .argument('[config]', 'config file or directory; its control.port says where the supervisor listens')
    .option('--port <port>', 'control port, instead of reading the config file')
    .action(async (config: string | undefined, flags: { port?: string }) => {
      const summary = await postReload(await controlAddress(config, portFlag(flags.port)));
      const parts = Object.entries(summary)
        .filter(([, names]) => (names as string[]).length > 0)
        .map(([what, names]) => `${what}: ${(names as string[]).join(', ')}`);
      process.stdout.write(`reloaded${parts.length > 0 ? `; ${parts.join('; ')}` : ' (nothing changed)'}\n`);
    });
}
