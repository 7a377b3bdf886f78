import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { exitCodeFor, ExitCode } from '../errors.js';
import { registerDlq } from './dlq.js';
import { registerPublish } from './publish.js';
import { registerRun } from './run.js';
import { registerReload, registerScale } from './scale.js';
import { registerStatus } from './status.js';
import { registerSupervise } from './supervise.js';
import { registerSupervisordConf, registerSystemdUnit } from './supervisord-conf.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Each command registers itself; adding one is one line here. */
const COMMANDS: Array<(program: Command) => void> = [
  registerRun,
  registerPublish,
  registerSupervise,
  registerStatus,
  registerScale,
  registerReload,
  registerSupervisordConf,
  registerSystemdUnit,
  registerDlq,
];

/** Runs the CLI; resolves to the exit code. Errors are one line on stderr, never a bare stack trace. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('rabbit-worker')
    .version(version)
    .description('RabbitMQ workers that never lose a message')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  COMMANDS.forEach((register) => register(program));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0
      return error.exitCode === 0 ? ExitCode.OK : ExitCode.CONFIG;
    }
    process.stderr.write(`rabbit-worker: ${error instanceof Error ? error.message : String(error)}\n`);
    return exitCodeFor(error);
  }
}
