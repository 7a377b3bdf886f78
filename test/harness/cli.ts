import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { HarnessError, HarnessErrorCode } from './errors.js';

/** The RabbitMQ command-line tools the harness drives. */
export type RabbitTool = 'rabbitmqctl' | 'rabbitmq-queues' | 'rabbitmq-diagnostics';

/** What one run of a tool gave. */
export interface CliResult {
  ok: boolean;
  /** stdout then stderr, trimmed. */
  output: string;
  /** Wall time of the call. */
  ms: number;
}

/**
 * The Erlang cookie every node and CLI call shares: the system node's, in the rabbitmq user's home. The
 * cookie never appears on a command line (`--erlang-cookie` would show it in `ps`).
 */
export const COOKIE_HOME = '/var/lib/rabbitmq';

// The Debian package's /usr/sbin wrappers re-run the tool through `su rabbitmq`: that user cannot read
// our 0700 temp dirs (pid files), and a timeout would kill `su` rather than the CLI. The scripts behind
// them work as root or as rabbitmq alike with HOME pointing at the cookie.
const LIB_BIN = '/usr/lib/rabbitmq/bin';
const toolPath = (tool: RabbitTool): string => (existsSync(`${LIB_BIN}/${tool}`) ? `${LIB_BIN}/${tool}` : tool);

/**
 * Runs `<tool> [-n node] …args`, bounded: a CLI that hangs (a node half-way down) is SIGKILLed after
 * `timeoutMs`. Never throws; see {@link cliOrThrow}. Each call starts an Erlang VM (~0.3 s of CPU here),
 * so callers poll sparingly. Aborting `signal` kills the CLI too (e.g. a `wait` for a node whose VM died).
 */
export function runCli(tool: RabbitTool, node: string | undefined, args: string[], timeoutMs = 30_000, signal?: AbortSignal): Promise<CliResult> {
  const started = Date.now();
  const argv = node === undefined ? args : ['-n', node, ...args];
  return new Promise((resolve) => {
    execFile(
      toolPath(tool),
      argv,
      { timeout: timeoutMs, killSignal: 'SIGKILL', signal, cwd: '/', env: { ...process.env, HOME: COOKIE_HOME }, maxBuffer: 8 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const timedOut = error !== null && (error as { killed?: boolean }).killed === true;
        const output = `${stdout}${stderr}`.trim();
        resolve({ ok: error === null, output: timedOut ? `${output}\n(killed after ${timeoutMs} ms)`.trim() : output, ms: Date.now() - started });
      },
    );
  });
}

/** `rabbitmqctl [-n node] …args`; never throws (the chaos run records failed faults instead). */
export function rabbitmqctl(node: string | undefined, args: string[], timeoutMs = 30_000): Promise<CliResult> {
  return runCli('rabbitmqctl', node, args, timeoutMs);
}

/** Like {@link runCli}, but a failure throws a {@link HarnessError} (`HARNESS_CLI_FAILED`) carrying the output. */
export async function cliOrThrow(tool: RabbitTool, node: string | undefined, args: string[], timeoutMs = 30_000): Promise<string> {
  const result = await runCli(tool, node, args, timeoutMs);
  if (!result.ok) {
    throw new HarnessError(HarnessErrorCode.CLI_FAILED, `${tool}${node === undefined ? '' : ` -n ${node}`} ${args.join(' ')} failed after ${result.ms} ms:\n${lastLines(result.output, 15)}`);
  }
  return result.output;
}

/** `rabbitmqctl eval <expression>` on `node`, its printed result; throws when the call fails. */
export function evalOn(node: string, expression: string, timeoutMs = 30_000): Promise<string> {
  return cliOrThrow('rabbitmqctl', node, ['eval', expression], timeoutMs);
}

/** The last `count` lines of `text`. */
export function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}
