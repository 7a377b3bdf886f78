import { createRequire } from 'node:module';
import { pino, stdSerializers, type Logger as PinoLogger, type DestinationStream } from 'pino';
import type { PinoPretty as PinoPrettyFn } from 'pino-pretty';
import { mergeMixin, messageMixin } from './message-context.js';

// pino-pretty is loaded only for terminals: a worker under a process manager writes JSON and never pays for it.
const require = createRequire(import.meta.url);

/** pino's levels plus `critical`, between error (50) and fatal (60), for the specification's CRITICAL lines. */
export const CRITICAL_LEVEL = 55;
type Level = 'debug' | 'info' | 'warn' | 'error' | 'critical';
type Fields = Record<string, unknown>;

/** Where and how log lines are written; the defaults read LOG_LEVEL and LOG_FORMAT. */
export interface LogOptions {
  /** @default process.env.LOG_LEVEL ?? 'info' */
  level?: string;
  /** `pretty` for people, `json` for machines. @default LOG_FORMAT, else pretty on a terminal, json otherwise */
  format?: 'pretty' | 'json';
  /** Colours in pretty lines. @default true when stdout is a terminal */
  colorize?: boolean;
  /** Fields on every line (worker, queue, pid are added by the runner). */
  base?: Fields;
  /**
   * Where JSON lines go instead of stdout: the supervisor formats its own lines the way it formats its
   * children's (`supervisor | INFO …`), so that a terminal shows one format. Implies `format: 'json'`.
   */
  write?: (line: string) => void;
}

/** How lines are written to this process's stdout: one format per destination. */
export interface LogDestination {
  format: 'pretty' | 'json';
  colorize: boolean;
}

/**
 * The format for this process's stdout: LOG_FORMAT when set, else pretty on a terminal and JSON otherwise.
 * Decided on the main thread: a worker thread's `process.stdout` is a pipe to it, never a TTY, so an
 * isolate is told the main thread's answer (IsolateInit) and writes its lines in the same format.
 */
export function logDestination(): LogDestination {
  const envFormat = process.env.LOG_FORMAT;
  const tty = process.stdout.isTTY === true;
  return { format: envFormat === 'json' || envFormat === 'pretty' ? envFormat : tty ? 'pretty' : 'json', colorize: tty };
}

function destination(format: 'pretty' | 'json', colorize: boolean): DestinationStream {
  if (format === 'json') return pino.destination({ dest: 1, sync: true });
  const { PinoPretty } = require('pino-pretty') as { PinoPretty: typeof PinoPrettyFn };
  return PinoPretty({ sync: true, colorize, customLevels: `critical:${CRITICAL_LEVEL}`, ignore: 'hostname', singleLine: true });
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;

/**
 * `err` as its real type, message and stack (and code): an Error through pino's own serializer, and an
 * error that crossed a thread boundary as plain data (`ErrorInfo`: `{ name, message, stack }`) by its
 * `name`, where pino's serializer would say `"type":"Object"`.
 */
export function serializeError(value: unknown): unknown {
  if (isPlainObject(value) && typeof value.message === 'string') {
    const { name, message, stack, code, ...rest } = value;
    return { type: typeof name === 'string' ? name : 'Error', message, ...(typeof stack === 'string' ? { stack } : {}), ...(code !== undefined ? { code } : {}), ...rest };
  }
  const serialized = stdSerializers.err(value as Error) as unknown;
  // An Error rebuilt from ErrorInfo (fromErrorInfo) is a plain Error named after the original: say that name.
  if (value instanceof Error && value.constructor === Error && value.name !== 'Error' && typeof serialized === 'object' && serialized !== null) (serialized as { type?: unknown }).type = value.name;
  return serialized;
}

/** Builds a pino logger with the `critical` level; JSON lines carry the level as a word (`"level":"critical"`). */
export function createPino(options: LogOptions = {}): PinoLogger<'critical'> {
  const decided = logDestination();
  const write = options.write;
  const format = write !== undefined ? 'json' : (options.format ?? decided.format);
  return pino<'critical'>(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      customLevels: { critical: CRITICAL_LEVEL },
      base: { pid: process.pid, ...options.base },
      serializers: { err: serializeError },
      // lines written during a callback carry its message id, attempt and trace id
      mixin: messageMixin,
      mixinMergeStrategy: mergeMixin,
      ...(format === 'json' ? { formatters: { level: (label: string) => ({ level: label }) } } : {}),
    },
    write !== undefined ? { write: (line: string) => write(line.trimEnd()) } : destination(format, options.colorize ?? decided.colorize),
  );
}

/**
 * The logger a worker holds as `this.logger`. `setMainLogger(name)` is the specification's way to name it;
 * every line carries that name as `logger`.
 */
export class Logger {
  // Created on first use, so that constructing a WorkerTask (whose logger the runner replaces) costs nothing.
  #root: PinoLogger<'critical'> | undefined;
  #current: PinoLogger<'critical'> | undefined;

  constructor(root?: PinoLogger<'critical'>) {
    this.#root = root;
  }

  /** Names the main logger: every line written through this logger then carries `logger: name`. */
  setMainLogger(name: string): this {
    this.#current = this.#base().child({ logger: name });
    return this;
  }

  /** @internal Adds `bindings` to every later line of this logger, keeping its main name. */
  bind(bindings: Fields): void {
    this.#root = this.#base().child(bindings);
    if (this.#current !== undefined) this.#current = this.#current.child(bindings);
  }

  /** A logger whose lines carry `bindings` too. */
  child(bindings: Fields): Logger {
    const child = new Logger(this.#base().child(bindings));
    child.#current = this.pino.child(bindings);
    return child;
  }

  /** The underlying pino logger, for libraries that take one. */
  get pino(): PinoLogger<'critical'> {
    this.#current ??= this.#base();
    return this.#current;
  }

  #base(): PinoLogger<'critical'> {
    this.#root ??= createPino();
    return this.#root;
  }

  isLevelEnabled(level: Level): boolean {
    return this.pino.isLevelEnabled(level);
  }

  debug(msg: string, fields?: Fields): void {
    this.#write('debug', msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.#write('info', msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.#write('warn', msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.#write('error', msg, fields);
  }
  /** The specification's CRITICAL: something was interrupted and needs a person's attention. */
  critical(msg: string, fields?: Fields): void {
    this.#write('critical', msg, fields);
  }

  #write(level: Level, msg: string, fields?: Fields): void {
    if (fields === undefined) this.pino[level](msg);
    else this.pino[level](fields, msg);
  }
}
