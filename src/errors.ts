/**
 * One catalogue of error codes. Callers branch on `code`, never on message text.
 */
export const ErrorCode = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  WORKER_LOAD_FAILED: 'WORKER_LOAD_FAILED',
  BROKER_UNREACHABLE: 'BROKER_UNREACHABLE',
  /** The broker refused the credentials, or the user may not use the vhost. */
  BROKER_ACCESS_REFUSED: 'BROKER_ACCESS_REFUSED',
  /** A memory or disk alarm blocked publishing past the deadline. */
  BROKER_BLOCKED: 'BROKER_BLOCKED',
  TOPOLOGY_MISMATCH: 'TOPOLOGY_MISMATCH',
  PUBLISH_UNROUTABLE: 'PUBLISH_UNROUTABLE',
  PUBLISH_REFUSED: 'PUBLISH_REFUSED',
  PUBLISHER_CLOSED: 'PUBLISHER_CLOSED',
  /** A header name that only rabbit-worker or the broker may set. */
  RESERVED_HEADER: 'RESERVED_HEADER',
  /** The message's headers (with rabbit-worker's own) do not fit in an AMQP header frame. */
  HEADERS_TOO_LARGE: 'HEADERS_TOO_LARGE',
  /** A copy (dead letter, retry, recount) that no queue took: the original stays with the broker. */
  COPY_RETURNED: 'COPY_RETURNED',
  PERMANENT: 'PERMANENT',
  MALFORMED_MESSAGE: 'MALFORMED_MESSAGE',
  OUT_OF_MEMORY: 'OUT_OF_MEMORY',
  SPARE_MEMORY_EXHAUSTED: 'SPARE_MEMORY_EXHAUSTED',
  CONSUMER_LOST: 'CONSUMER_LOST',
  SUPERVISOR_UNREACHABLE: 'SUPERVISOR_UNREACHABLE',
  /** The control endpoint refused the request: no or a wrong token (401), read-only or a foreign Host (403). */
  CONTROL_REFUSED: 'CONTROL_REFUSED',
  /** A worker type the supervisor does not run. */
  UNKNOWN_WORKER_TYPE: 'UNKNOWN_WORKER_TYPE',
  /** The supervisor is stopping: it takes no scale or reload. */
  SUPERVISOR_STOPPING: 'SUPERVISOR_STOPPING',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base of every error rabbit-worker throws on purpose. */
export class RabbitWorkerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A bad option, config file or command line. Exit code 2: a process manager must not restart it in a loop. */
export class ConfigError extends RabbitWorkerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.CONFIG_INVALID, message, options);
  }
}

/**
 * The broker answered but refused: wrong user or password, or no access to the vhost. Exit code 2: retrying
 * with the same URL cannot help, so a process manager must not restart it in a loop.
 */
export class BrokerAccessRefusedError extends RabbitWorkerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.BROKER_ACCESS_REFUSED, message, options);
  }
}

/** The broker could not be reached after every retry. Exit code 3. */
export class BrokerUnreachableError extends RabbitWorkerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.BROKER_UNREACHABLE, message, options);
  }
}

/**
 * Throw it from a callback when retrying cannot help (a validation failure, a record that no longer
 * exists): the message goes straight to `<queue>.dlq` with the error's message as the reason.
 */
export class PermanentError extends RabbitWorkerError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? ErrorCode.PERMANENT, message, options);
  }
}

/** Thrown by `MessageAdapter.json()` when the body is not valid JSON; the message is already rejected. */
export class MalformedMessageError extends PermanentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: ErrorCode.MALFORMED_MESSAGE });
  }
}

/** True for a `PermanentError`, also when it crossed a thread boundary as plain data. */
export function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return code === ErrorCode.PERMANENT || code === ErrorCode.MALFORMED_MESSAGE;
}

/** Exit codes of `rabbit-worker run`, as the process manager reads them. */
export const ExitCode = { OK: 0, FAILURE: 1, CONFIG: 2, BROKER_UNREACHABLE: 3 } as const;

/** The exit code that an error that ended the process maps to. */
export function exitCodeFor(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === ErrorCode.CONFIG_INVALID || code === ErrorCode.WORKER_LOAD_FAILED || code === ErrorCode.TOPOLOGY_MISMATCH || code === ErrorCode.BROKER_ACCESS_REFUSED) {
    return ExitCode.CONFIG;
  }
  if (code === ErrorCode.BROKER_UNREACHABLE) return ExitCode.BROKER_UNREACHABLE;
  return ExitCode.FAILURE;
}

/** A plain-data form of an error, for logs and for crossing a thread boundary. */
export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      ...(error.stack !== undefined ? { stack: error.stack } : {}),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { name: 'NonError', message: String(error) };
}

/** Rebuilds an Error from `ErrorInfo` so that user code gets a real Error with the original stack. */
export function fromErrorInfo(info: ErrorInfo): Error {
  const error = new Error(info.message) as Error & { code?: string };
  error.name = info.name;
  if (info.stack !== undefined) error.stack = info.stack;
  if (info.code !== undefined) error.code = info.code;
  return error;
}
