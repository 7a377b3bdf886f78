import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { loadConfig } from '../supervisor/config.js';
import { supervisordConf } from '../supervisor/supervisord.js';
import { systemdUnits } from '../supervisor/systemd.js';

export function registerSupervisordConf(program: Command): void {
  program
    .command('supervisord-conf')
    .description('print the [program:…] blocks that run the config file\'s workers under supervisord')
    .argument('[config]', 'config file or directory (default: the working directory)')
    .option('--log-dir <dir>', 'one rotated log file per process in this directory (default: supervisord\'s childlogdir)')
    .option('--stdout', 'output into supervisord\'s own stdout (/dev/fd/1), for supervisord in the foreground of a container')
    .option('--prefix <prefix>', 'prefix of the program names', '')
    .action(async (config: string | undefined, flags: { logDir?: string; stdout?: boolean; prefix: string }) => {
      if (flags.logDir !== undefined && flags.stdout === true) throw new ConfigError('--log-dir and --stdout: choose one');
      const loaded = await loadConfig(config);
      const logs = flags.stdout === true ? 'stdout' : flags.logDir !== undefined ? { dir: resolve(flags.logDir) } : 'auto';
      process.stdout.write(supervisordConf(loaded, { prefix: flags.prefix, logs }));
    });
}

export function registerSystemdUnit(program: Command): void {
  program
    .command('systemd-unit')
    .description('print (or write) one systemd template unit per worker type: <prefix><type>@.service')
    .argument('[config]', 'config file or directory (default: the working directory)')
    .option('--out <dir>', 'write the unit files into this directory instead of printing them')
    .option('--prefix <prefix>', 'unit name prefix', 'rabbit-worker-')
    .option('--user <user>', 'User= of the services')
    .action(async (config: string | undefined, flags: { out?: string; prefix: string; user?: string }) => {
      const units = systemdUnits(await loadConfig(config), { prefix: flags.prefix, ...(flags.user !== undefined ? { user: flags.user } : {}) });
      if (flags.out !== undefined) {
        mkdirSync(flags.out, { recursive: true });
        for (const unit of units) writeFileSync(join(flags.out, unit.name), unit.text);
        process.stdout.write(`wrote ${units.map((u) => join(flags.out ?? '.', u.name)).join(', ')}\n`);
      } else {
        process.stdout.write(units.map((u) => `### ${u.name}\n${u.text}`).join('\n'));
      }
    });
}
