import { Command, CommanderError } from 'commander';
import { exitCodeFor, ExitCode } from '../errors.js';
import { readFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

type Register = (program: Command) => void;

/**
 * Each command registers itself; adding one is one line here. Loaded on demand: `rabbit-worker run`
 * imports the worker, not the supervisor, the dead-letter tools or their dependencies (start-up time and
 * memory of every worker process).
 */
const COMMANDS: Record<string, () => Promise<Register[]>> = {
  run: async () => [(await import('./run.js')).registerRun],
  publish: async () => [(await import('./publish.js')).registerPublish],
  supervise: async () => [(await import('./supervise.js')).registerSupervise],
  status: async () => [(await import('./status.js')).registerStatus],
  scale: async () => [(await import('./scale.js')).registerScale],
  reload: async () => [(await import('./scale.js')).registerReload],
  'supervisord-conf': async () => [(await import('./supervisord-conf.js')).registerSupervisordConf],
  'systemd-unit': async () => [(await import('./supervisord-conf.js')).registerSystemdUnit],
  dlq: async () => [(await import('./dlq.js')).registerDlq],
  kubernetes: async () => [(await import('./kubernetes.js')).registerKubernetes],
  prepare: async () => [(await import('./prepare.js')).registerPrepare],
  dashboard: async () => [(await import('./dashboard.js')).registerDashboard],
};

/** The commands to register: the one invoked, or all of them for help and mistakes. */
async function commandsFor(argv: string[]): Promise<Register[]> {
  const load = argv[0] === undefined ? undefined : COMMANDS[argv[0]];
  if (load !== undefined) return load();
  return (await Promise.all(Object.values(COMMANDS).map((l) => l()))).flat();
}

/** Runs the CLI; resolves to the exit code. Errors are one line on stderr, never a bare stack trace. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('rabbit-worker')
    .version(version)
    .description('RabbitMQ workers that never lose a message')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  try {
    (await commandsFor(argv)).forEach((register) => register(program));
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
