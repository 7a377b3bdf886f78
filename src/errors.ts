import { inspect } from 'node:util';

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
  /** A payload failed its queue's schema: refused by the publisher, or dead-lettered by the worker. */
  INVALID_PAYLOAD: 'INVALID_PAYLOAD',
  /** `publish()` with a `priority` where RabbitMQ would ignore it (no queue definition with `maxPriority`). */
  PRIORITY_UNSUPPORTED: 'PRIORITY_UNSUPPORTED',
  /** `request()`: no reply within `timeoutMs`. */
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  /** `request()`: the worker dead-lettered the request (rejected, invalid, past maxAttempts) and said why. */
  REQUEST_FAILED: 'REQUEST_FAILED',
  /** `request()`: the connection the reply would come back on was lost after the request was sent. */
  REPLY_LOST: 'REPLY_LOST',
  /** `request()`: the reply failed the queue definition's `reply` schema. */
  INVALID_REPLY: 'INVALID_REPLY',
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

/** One failing place of a payload: a path such as `items[2].width` (empty for the whole value) and why. */
export interface PayloadIssue {
  path: string;
  message: string;
}

/**
 * A payload that failed its queue's schema. `publish()` and `request()` throw it before anything leaves the
 * process; thrown from a callback it dead-letters the message (it is a {@link PermanentError}).
 */
export class InvalidPayloadError extends PermanentError {
  /** Every failing path, in the schema library's order. */
  readonly issues: readonly PayloadIssue[];
  constructor(message: string, issues: readonly PayloadIssue[], options?: { cause?: unknown }) {
    super(message, { ...options, code: ErrorCode.INVALID_PAYLOAD });
    this.issues = issues;
  }
}

/**
 * `publisher.request()`: the worker dead-lettered the request (rejected it, its payload was invalid, it failed
 * `maxAttempts` times) and replied why, instead of a value.
 */
export class RequestFailedError extends RabbitWorkerError {
  /** The dead letter's reason (`x-rabbit-worker-reason`). */
  readonly reason: string;
  /** Its fixed category: `rejected`, `permanent_error`, `malformed`, `invalid_payload`, `max_attempts`, `headers_too_large`. */
  readonly deadLetterReason: string;
  constructor(message: string, reason: string, deadLetterReason: string) {
    super(ErrorCode.REQUEST_FAILED, message);
    this.reason = reason;
    this.deadLetterReason = deadLetterReason;
  }
}

/** True for a `PermanentError`, also when it crossed a thread boundary as plain data. */
export function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return code === ErrorCode.PERMANENT || code === ErrorCode.MALFORMED_MESSAGE || code === ErrorCode.INVALID_PAYLOAD;
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
  // an error-like object (an ErrorInfo, or what a library threw): its own name and message
  const like = error as { name?: unknown; message?: unknown; stack?: unknown; code?: unknown } | null;
  if (typeof like === 'object' && like !== null && typeof like.message === 'string') {
    return {
      name: typeof like.name === 'string' ? like.name : 'NonError',
      message: like.message,
      ...(typeof like.stack === 'string' ? { stack: like.stack } : {}),
      ...(typeof like.code === 'string' ? { code: like.code } : {}),
    };
  }
  return { name: 'NonError', message: describeThrown(error) };
}

/**
 * What was thrown, when it was not an Error (`throw { code: 42 }`, `throw 'x'`, `throw undefined`): a
 * readable one-line description, never `[object Object]`.
 */
export function describeThrown(value: unknown): string {
  if (value === undefined || value === null) return `${String(value)} was thrown (not an Error)`;
  if (typeof value === 'string') return value;
  let text: string;
  try {
    text = inspect(value, { depth: 2, breakLength: Number.POSITIVE_INFINITY, maxStringLength: 200, maxArrayLength: 10 });
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return `${text.length > 500 ? `${text.slice(0, 499)}…` : text} was thrown (not an Error)`;
}

/** Rebuilds an Error from `ErrorInfo` so that user code gets a real Error with the original stack. */
export function fromErrorInfo(info: ErrorInfo): Error {
  const error = new Error(info.message) as Error & { code?: string };
  error.name = info.name;
  if (info.stack !== undefined) error.stack = info.stack;
  if (info.code !== undefined) error.code = info.code;
  return error;
}
