import { BIN_PATH, runCommand } from './command.js';
import { sharedName, splitEnv } from './secrets.js';
import type { SupervisorConfig, WorkerTypeConfig } from './config.js';

export interface SupervisordOptions {
  /** Prefix of every program name (`[program:<prefix><type>]`). @default '' */
  prefix?: string;
  /**
   * Where the processes' output goes: `auto` (default) = supervisord's childlogdir, rotated;
   * a directory = one rotated file per process there; `stdout` = supervisord's own stdout (/dev/fd/1),
   * for supervisord in the foreground of a container (it fails with ENXIO when that stdout is a socket,
   * as under systemd's journal).
   */
  logs?: 'auto' | 'stdout' | { dir: string };
  /** @default process.execPath */
  node?: string;
  /** @default this installation's bin/rabbit-worker.js */
  bin?: string;
}

/** supervisord expands `%(name)s` in values: a literal % is written %%. */
const percent = (value: string): string => value.replace(/%/g, '%%');

/** One argument for supervisord's shlex-style command parsing. */
export function quoteArg(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'"'"'`)}'`;
}

/** `KEY="value",…` for supervisord's `environment=` (values double-quoted, \ and " escaped, % doubled). */
export function formatEnvironment(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([key, value]) => `${key}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
    .join(',');
}

/**
 * supervisord has no readiness protocol: a process is RUNNING once it stayed up `startsecs`. Its workers get
 * `--ready-within` a second less, so that one still connecting or declaring then exits (a failed start) and
 * RUNNING means consuming; `startsecs` is therefore at least this (as Celery's supervisord example), enough
 * for a cold start on a loaded host.
 */
export const SUPERVISORD_MIN_START_SECONDS = 10;

/**
 * `startsecs`: how long a process must stay up to count as started. Never 0 (a worker that crashes at start
 * would be respawned forever and never reach FATAL), at least SUPERVISORD_MIN_START_SECONDS, and not above
 * the TTL (every TTL exit would be a failure).
 */
export function startSecs(type: WorkerTypeConfig): number {
  const wanted = Math.max(SUPERVISORD_MIN_START_SECONDS, Math.round(type.startSeconds));
  const ttl = type.overrides.ttl ?? 0;
  return ttl > 0 ? Math.max(1, Math.min(wanted, Math.floor(ttl))) : wanted;
}

/** `--ready-within` of a supervisord process: not consuming a second before `startsecs` is a failed start. */
export function readyWithin(type: WorkerTypeConfig): number {
  return Math.max(1, startSecs(type) - 1);
}

/** The `[program:…]` block of one worker type. */
export function programBlock(type: WorkerTypeConfig, config: SupervisorConfig, options: SupervisordOptions = {}): string {
  const { command, args } = runCommand(type, options.node ?? process.execPath, options.bin ?? BIN_PATH);
  args.push('--ready-within', String(readyWithin(type)));
  // Secrets (a URL with a password) are never written here: supervisord reads them from its own environment.
  const { plain, secret } = splitEnv(type);
  const fromSupervisord = Object.fromEntries(Object.keys(secret).map((name) => [name, `%(ENV_${sharedName(type.name, name)})s`]));
  const env = { ...Object.fromEntries(Object.entries(plain).map(([k, v]) => [k, percent(v)])), ...fromSupervisord, RABBIT_WORKER_PROCESS: '%(program_name)s_%(process_num)02d' };
  const lines = [
    `[program:${options.prefix ?? ''}${type.name}]`,
    `command=${percent([command, ...args].map(quoteArg).join(' '))}`,
    'process_name=%(program_name)s_%(process_num)02d',
    `numprocs=${Math.max(1, type.processes)}`,
    'numprocs_start=1',
    `directory=${percent(config.dir)}`,
    `autostart=${type.processes > 0 ? 'true' : 'false'}`,
    '; restart after every exit: exit 0 is the TTL or recycling (autorestart=unexpected would leave it stopped)',
    'autorestart=true',
    '; RUNNING = up startsecs; --ready-within makes a worker not yet consuming by then exit (a failed start)',
    `startsecs=${startSecs(type)}`,
    `startretries=${type.startRetries}`,
    'exitcodes=0',
    'stopsignal=TERM',
    '; stopTimeout for in-flight callbacks, plus time for shutdown() and closing',
    `stopwaitsecs=${Math.ceil(type.stopWaitSeconds)}`,
    'stopasgroup=true',
    'killasgroup=true',
    // RABBIT_WORKER_PROCESS and the secrets keep their %(…)s: supervisord expands them
    `environment=${formatEnvironment(env)}`,
  ];
  const logs = options.logs ?? 'auto';
  if (logs === 'stdout') {
    lines.push(
      "; into supervisord's own stdout: for supervisord in the foreground (nodaemon=true) of a container",
      'stdout_logfile=/dev/fd/1',
      'stdout_logfile_maxbytes=0',
      'stderr_logfile=/dev/fd/2',
      'stderr_logfile_maxbytes=0',
    );
  } else {
    const file = logs === 'auto' ? 'AUTO' : `${percent(logs.dir.replace(/\/+$/, ''))}/%(program_name)s_%(process_num)02d.log`;
    lines.push(`stdout_logfile=${file}`, 'stdout_logfile_maxbytes=50MB', 'stdout_logfile_backups=10', 'redirect_stderr=true');
  }
  if (type.processes === 0) lines.splice(1, 0, '; processes: 0 in the config: defined, not started');
  return `${lines.join('\n')}\n`;
}

/**
 * The secrets of every type, as supervisord must have them in its own environment (e.g. through systemd's
 * `EnvironmentFile=` for the supervisor service): `RABBIT_WORKER_<TYPE>_<NAME>=value`.
 */
export function supervisordSecrets(config: SupervisorConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const type of config.workers) for (const [name, value] of Object.entries(splitEnv(type).secret)) out[sharedName(type.name, name)] = value;
  return out;
}

/** Every `[program:…]` block, for `[include]` from a supervisord.conf. */
export function supervisordConf(config: SupervisorConfig, options: SupervisordOptions = {}): string {
  const header = [
    `; generated by "rabbit-worker supervisord-conf" from ${config.path}`,
    '; include it from supervisord.conf: [include] files = /etc/supervisor/conf.d/*.conf',
    `; then: supervisorctl reread && supervisorctl update; see ${config.workers.map((t) => `${options.prefix ?? ''}${t.name}:*`).join(', ')}`,
    '',
  ];
  return header.join('\n') + config.workers.map((type) => programBlock(type, config, options)).join('\n');
}
