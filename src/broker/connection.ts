import type { ChannelModel } from 'amqplib';
import { sleep, systemClock, type Clock } from '../clock.js';
import { BrokerAccessRefusedError, BrokerUnreachableError, ConfigError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { describeIdentity, redactUrl } from './url.js';

export { sleep };

/**
 * amqplib, loaded at the first connection: a callback isolate imports this module through the package root
 * (for Publisher) but connects only if its callbacks publish, so it does not pay for amqplib otherwise.
 */
let amqplib: Promise<typeof import('amqplib')> | undefined;
const loadAmqplib = (): Promise<typeof import('amqplib')> => (amqplib ??= import('amqplib').then((m) => (m as { default?: typeof import('amqplib') }).default ?? m));

/** How to reach the broker. */
export interface ConnectOptions {
  /** The nodes of the broker; each round tries every one, starting after {@link ConnectOptions.startAfter}. */
  urls: string[];
  /** Rounds over every URL before giving up with {@link BrokerUnreachableError}. @default 5 */
  attempts?: number;
  /** Pause after the first failed round, doubled each round (with jitter) up to `maxDelayMs`. @default 500 */
  initialDelayMs?: number;
  /** @default 10000 */
  maxDelayMs?: number;
  /** Seconds; a dead peer is noticed after about twice this. @default 10 */
  heartbeat?: number;
  /** Shown in RabbitMQ's connection list. */
  name?: string;
  logger?: Logger;
  /** Stops retrying (the caller is shutting down); the pending call rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Index in `urls` of the node that just failed: the first round starts with the one after it. */
  startAfter?: number;
  /**
   * For the log lines of a caller that runs its own rounds (a worker reconnecting): this call's first round
   * is round `roundOffset + 1` of `roundsTotal`. @default 0, and `attempts`
   */
  roundOffset?: number;
  roundsTotal?: number;
  clock?: Clock;
}

/** An open connection and which of the URLs it reached. */
export interface Connected {
  connection: ChannelModel;
  url: string;
  /** Its index in `urls`: pass it as `startAfter` when this connection is lost, to fail over. */
  index: number;
}

function withHeartbeat(url: string, heartbeat: number): string {
  if (/[?&]heartbeat=/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}heartbeat=${heartbeat}`;
}

/**
 * The AMQP reply code of a refused handshake. amqplib reports a handshake that the server closed only as
 * text ("Handshake terminated by server: 403 (ACCESS-REFUSED) …") with no `code`; this is the one place
 * that reads it, to turn it into a coded error.
 */
function handshakeReplyCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return code;
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return undefined;
  const match = /^Handshake terminated by server: (\d{3}) /.exec(message);
  if (match) return Number(match[1]);
  // A server that closes in answer to connection.open refuses the vhost (530 NOT_ALLOWED); amqplib keeps only
  // the frame's name in that error, not its code.
  if (/^Expected ConnectionOpenOk; got <ConnectionClose /.test(message)) return 530;
  return undefined;
}

/** Why a connection attempt failed, in a few words (`ECONNREFUSED`, `ACCESS_REFUSED`). */
export function describeConnectError(error: unknown): string {
  const reply = handshakeReplyCode(error);
  if (reply === 403) return 'ACCESS_REFUSED (wrong user or password)';
  if (reply === 530) return 'NOT_ALLOWED (no access to the vhost, or it does not exist)';
  const e = error as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'string') return e.code;
  return typeof e?.message === 'string' ? e.message : String(error);
}

/** A refusal that retrying cannot cure: the credentials or the vhost. */
function refusal(url: string, error: unknown): BrokerAccessRefusedError | undefined {
  const reply = handshakeReplyCode(error);
  if (reply === 403) {
    return new BrokerAccessRefusedError(`credentials refused for ${describeIdentity(url)} (ACCESS_REFUSED): check the user and password of AMQP_URL`, { cause: error });
  }
  if (reply === 530) {
    return new BrokerAccessRefusedError(`access refused for ${describeIdentity(url)} (NOT_ALLOWED): the vhost does not exist or the user has no permission on it`, { cause: error });
  }
  return undefined;
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
 * Connects to a node of the broker. Each round tries every URL once, starting after `startAfter` (so a
 * client whose node failed moves to the next one at once), then pauses with exponential backoff and jitter
 * before the next round. Each failed attempt is logged with the URL it tried (password hidden).
 * Throws {@link ConfigError} for a malformed URL, {@link BrokerAccessRefusedError} at once when a node
 * refuses the credentials or the vhost, and {@link BrokerUnreachableError} after the last round.
 */
export async function connectTo(options: ConnectOptions): Promise<Connected> {
  const { urls, attempts = 5, initialDelayMs = 500, maxDelayMs = 10_000, heartbeat = 10, name, logger, signal } = options;
  const clock = options.clock ?? systemClock;
  if (urls.length === 0) throw new ConfigError('no broker URL');
  urls.forEach(checkUrl);
  const first = options.startAfter === undefined ? 0 : (options.startAfter + 1) % urls.length;
  // rounds as the caller counts them; an unbounded wait (a publisher within its deadline) has no "of N"
  const offset = options.roundOffset ?? 0;
  const total = options.roundsTotal ?? attempts;
  const bounded = Number.isSafeInteger(total) && total < Number.MAX_SAFE_INTEGER;
  const roundFields = (round: number): Record<string, number> => (bounded ? { round: offset + round, rounds: total } : { round: offset + round });
  const roundText = (round: number): string => (bounded ? `round ${offset + round} of ${total}` : `round ${offset + round}`);
  let lastError: unknown;
  let delay = initialDelayMs;
  for (let round = 1; round <= attempts; round++) {
    for (let step = 0; step < urls.length; step++) {
      if (signal?.aborted) throw signal.reason as Error;
      const index = (first + step) % urls.length;
      const url = urls[index] as string;
      try {
        const amqp = await loadAmqplib();
        const connection = await amqp.connect(withHeartbeat(url, heartbeat), {
          clientProperties: { connection_name: name ?? `rabbit-worker pid ${process.pid}` },
          timeout: 5000,
        });
        if (round > 1 || step > 0 || options.startAfter !== undefined) logger?.info(`connected to RabbitMQ at ${redactUrl(url)}`, { url: redactUrl(url), round });
        return { connection, url, index };
      } catch (error) {
        if (signal?.aborted) throw signal.reason as Error;
        const refused = refusal(url, error);
        if (refused !== undefined) throw refused;
        lastError = error;
        logger?.warn(`cannot connect to RabbitMQ at ${redactUrl(url)}: ${describeConnectError(error)}`, { url: redactUrl(url), ...roundFields(round) });
      }
    }
    if (round === attempts) break;
    const wait = Math.round(delay * (0.8 + Math.random() * 0.4));
    logger?.warn(`no node of RabbitMQ answered (${roundText(round)}); next round in ${wait} ms`, { ...roundFields(round), delayMs: wait });
    await sleep(wait, signal, clock);
    delay = Math.min(delay * 2, maxDelayMs);
  }
  const over = urls.length > 1 ? ` over ${urls.length} URLs` : '';
  throw new BrokerUnreachableError(`${unreachableHint(urls)} (${describeConnectError(lastError)} after ${attempts} round(s)${over})`, { cause: lastError });
}

/** {@link connectTo}, for callers that only need the connection. */
export async function connect(options: ConnectOptions): Promise<ChannelModel> {
  return (await connectTo(options)).connection;
}
