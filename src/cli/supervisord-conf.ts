import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { loadConfig } from '../supervisor/config.js';
import { withEffectiveStopWaits } from '../supervisor/effective-settings.js';
import { envFileText, writeSecretFile } from '../supervisor/secrets.js';
import { supervisordConf, supervisordSecrets } from '../supervisor/supervisord.js';
import { systemdUnits } from '../supervisor/systemd.js';

export function registerSupervisordConf(program: Command): void {
  program
    .command('supervisord-conf')
    .description('print the [program:…] blocks that run the config file\'s workers under supervisord')
    .argument('[config]', 'config file or directory (default: the working directory)')
    .option('--log-dir <dir>', 'one rotated log file per process in this directory (default: supervisord\'s childlogdir)')
    .option('--stdout', 'output into supervisord\'s own stdout (/dev/fd/1), for supervisord in the foreground of a container')
    .option('--prefix <prefix>', 'prefix of the program names', '')
    .option('--secrets-file <path>', "write the secrets (URLs with a password) to this file, mode 0600, for supervisord's own environment")
    .action(async (config: string | undefined, flags: { logDir?: string; stdout?: boolean; prefix: string; secretsFile?: string }) => {
      if (flags.logDir !== undefined && flags.stdout === true) throw new ConfigError('--log-dir and --stdout: choose one');
      const loaded = await withEffectiveStopWaits(await loadConfig(config), warn);
      const logs = flags.stdout === true ? 'stdout' : flags.logDir !== undefined ? { dir: resolve(flags.logDir) } : 'auto';
      process.stdout.write(supervisordConf(loaded, { prefix: flags.prefix, logs }));
      const secrets = supervisordSecrets(loaded);
      const names = Object.keys(secrets);
      if (names.length === 0) return;
      if (flags.secretsFile !== undefined) {
        writeSecretFile(resolve(flags.secretsFile), envFileText(secrets));
        process.stderr.write(`rabbit-worker: the secrets (${names.join(', ')}) are in ${resolve(flags.secretsFile)} (mode 0600), not in this output; supervisord must have them in its environment, e.g. EnvironmentFile=${resolve(flags.secretsFile)} in its systemd service (systemctl edit supervisor)\n`);
      } else {
        process.stderr.write(`rabbit-worker: this output refers to ${names.join(', ')} in supervisord's environment and does not contain them; --secrets-file <path> writes them to a file only its owner can read\n`);
      }
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
    .option('--env-dir <dir>', 'where the units read their secrets from (EnvironmentFile=<dir>/<unit>.env)', '/etc/rabbit-worker')
    .action(async (config: string | undefined, flags: { out?: string; prefix: string; user?: string; envDir: string }) => {
      const units = systemdUnits(await withEffectiveStopWaits(await loadConfig(config), warn), { prefix: flags.prefix, envDir: flags.envDir, ...(flags.user !== undefined ? { user: flags.user } : {}) });
      const withSecrets = units.filter((u) => Object.keys(u.secrets).length > 0);
      if (flags.out !== undefined) {
        mkdirSync(flags.out, { recursive: true });
        for (const unit of units) writeFileSync(join(flags.out, unit.name), unit.text);
        // the secrets beside the units, 0600: install them as EnvironmentFile= says (root-owned, 0600)
        for (const unit of withSecrets) writeSecretFile(join(flags.out, basename(unit.envFile)), envFileText(unit.secrets));
        process.stdout.write(`wrote ${[...units.map((u) => join(flags.out ?? '.', u.name)), ...withSecrets.map((u) => `${join(flags.out ?? '.', basename(u.envFile))} (mode 0600: install it as ${u.envFile})`)].join(', ')}\n`);
      } else {
        process.stdout.write(units.map((u) => `### ${u.name}\n${u.text}`).join('\n'));
        for (const unit of withSecrets) process.stderr.write(`rabbit-worker: ${unit.name} reads ${Object.keys(unit.secrets).join(', ')} from ${unit.envFile}, not written here; --out <dir> writes that file (mode 0600) beside the unit\n`);
      }
    });
}

const warn = (line: string): void => void process.stderr.write(`rabbit-worker: warning: ${line}\n`);
