import amqp, { type ChannelModel } from 'amqplib';
import { BrokerUnreachableError, ConfigError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { redactUrl } from './url.js';

/** How to reach the broker. */
export interface ConnectOptions {
  /** Tried in turn; several for a cluster. */
  urls: string[];
  /** Attempts before giving up with {@link BrokerUnreachableError}. @default 5 */
  attempts?: number;
  /** First delay between attempts, doubled each time (with jitter) up to 10 s. @default 500 */
  initialDelayMs?: number;
  /** Seconds; a dead peer is noticed after about twice this. @default 10 */
  heartbeat?: number;
  /** Shown in RabbitMQ's connection list. */
  name?: string;
  logger?: Logger;
  /** Stops retrying (the caller is shutting down); the pending call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A delay that an AbortSignal cuts short. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), ms);
    const onAbort = (): void => (clearTimeout(timer), reject(signal?.reason as Error));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function withHeartbeat(url: string, heartbeat: number): string {
  if (/[?&]heartbeat=/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}heartbeat=${heartbeat}`;
}

/** Why a connection attempt failed, in a few words (`ECONNREFUSED`, `ACCESS_REFUSED (bad credentials)`). */
export function describeConnectError(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  if (/403|ACCESS.REFUSED/.test(message)) return 'ACCESS_REFUSED (bad credentials or no access to the vhost)';
  if (typeof e?.code === 'string') return e.code;
  return message;
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`invalid broker URL "${redactUrl(url)}": expected amqp://user:password@host:5672/vhost`);
  }
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
    throw new ConfigError(`invalid broker URL "${redactUrl(url)}": the scheme must be amqp:// or amqps://`);
  }
}

/** The hint printed when nothing answers: where we looked and how to start a broker. */
export function unreachableHint(urls: string[]): string {
  return `RabbitMQ is not reachable at ${urls.map(redactUrl).join(', ')}; set AMQP_URL or --url, or start a local broker with "rabbitmq-server -detached"`;
}

/**
 * Connects to the first URL that answers, trying each in turn with exponential backoff and jitter.
 * Throws {@link ConfigError} for a malformed URL (at once) and {@link BrokerUnreachableError} after the
 * last attempt; passwords never appear in either.
 */
export async function connect(options: ConnectOptions): Promise<ChannelModel> {
  const { urls, attempts = 5, initialDelayMs = 500, heartbeat = 10, name, logger, signal } = options;
  urls.forEach(checkUrl);
  let lastError: unknown;
  let delay = initialDelayMs;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (signal?.aborted) throw signal.reason as Error;
    const url = urls[(attempt - 1) % urls.length] as string;
    try {
      const connection = await amqp.connect(withHeartbeat(url, heartbeat), {
        clientProperties: { connection_name: name ?? `rabbit-worker pid ${process.pid}` },
        timeout: 5000,
      });
      if (attempt > 1) logger?.info('connected to RabbitMQ', { url: redactUrl(url), attempt });
      return connection;
    } catch (error) {
      lastError = error;
      if (attempt === attempts) break;
      const wait = Math.round(delay * (0.8 + Math.random() * 0.4));
      logger?.warn(`cannot connect to RabbitMQ: ${describeConnectError(error)}; retrying in ${wait} ms`, { url: redactUrl(url), attempt, attempts });
      await sleep(wait, signal);
      delay = Math.min(delay * 2, 10_000);
    }
  }
  throw new BrokerUnreachableError(`${unreachableHint(urls)} (${describeConnectError(lastError)} after ${attempts} attempts)`, { cause: lastError });
}
