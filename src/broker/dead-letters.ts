import type { Channel, ChannelModel, ConsumeMessage, Options } from 'amqplib';
import { ConfigError, ErrorCode, RabbitWorkerError } from '../errors.js';
import { deadLetterQueueName } from './topology.js';

/** One message of `<queue>.dlq`, as `list` shows it. */
export interface DeadLetter {
  messageId: string | undefined;
  /** Deliveries before it was dead-lettered (`x-rabbit-worker-attempts`). */
  attempts: number | undefined;
  /** ISO time (`x-rabbit-worker-failed-at`). */
  failedAt: string | undefined;
  /** Why (`x-rabbit-worker-reason`). */
  reason: string | undefined;
  headers: Record<string, unknown>;
  /** AMQP properties other than headers (contentType, timestamp, …), undefined ones left out. */
  properties: Record<string, unknown>;
  body: Buffer;
  /** How often the dead-letter queue itself delivered it (a quorum queue counts every list). */
  dlqDeliveryCount: number;
}

/** Options of {@link listDeadLetters}. */
export interface ListOptions {
  /** At most this many, from the head of the queue. @default 100 */
  limit?: number;
  /** Give up waiting for a message counted but not delivered (held unacked elsewhere). @default 3000 */
  idleMs?: number;
}

/** Progress of a replay, reported after every confirmed copy. */
export interface ReplayProgress {
  replayed: number;
  /** Messages the replay aims at: the limit, the ids asked for, or the queue depth at the start. */
  total: number;
  elapsedMs: number;
}

/** Options of {@link replayDeadLetters}. */
export interface ReplayOptions {
  /** Replay at most this many, from the head. @default all that were there at the start */
  limit?: number;
  /** Only these message ids; the others stay in the dead-letter queue, in order. */
  ids?: readonly string[];
  /** Copies published but not yet confirmed, at most. @default 500 */
  window?: number;
  idleMs?: number;
  onProgress?: (progress: ReplayProgress) => void;
}

/** What a replay did. */
export interface ReplayResult {
  replayed: number;
  /** Of the messages in `<queue>.dlq` at the start, those still there (new arrivals not counted). */
  remaining: number;
  elapsedMs: number;
  /** `ids` asked for but not found. */
  missingIds: string[];
}

/** Prefixes and names of the headers a failure added; a replayed message starts afresh without them. */
const FAILURE_HEADER_PREFIXES = ['x-rabbit-worker-', 'x-first-death-', 'x-last-death-'];
const FAILURE_HEADERS = new Set(['x-death', 'x-delivery-count']);

/** The headers without the failure bookkeeping, so that the work queue counts attempts from 1 again. */
export function cleanReplayHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (FAILURE_HEADERS.has(key) || FAILURE_HEADER_PREFIXES.some((p) => key.startsWith(p))) continue;
    out[key] = value;
  }
  return out;
}

const definedProperties = (message: ConsumeMessage): Record<string, unknown> =>
  Object.fromEntries(Object.entries(message.properties).filter(([key, value]) => value !== undefined && key !== 'headers'));

function toDeadLetter(message: ConsumeMessage): DeadLetter {
  const headers = (message.properties.headers ?? {}) as Record<string, unknown>;
  const text = (key: string): string | undefined => (headers[key] === undefined ? undefined : String(headers[key]));
  const attempts = Number(headers['x-rabbit-worker-attempts']);
  const id = message.properties.messageId as unknown;
  return {
    messageId: id === undefined || id === null ? undefined : String(id),
    attempts: Number.isFinite(attempts) && headers['x-rabbit-worker-attempts'] !== undefined ? attempts : undefined,
    failedAt: text('x-rabbit-worker-failed-at'),
    reason: text('x-rabbit-worker-reason'),
    headers,
    properties: definedProperties(message),
    body: message.content,
    dlqDeliveryCount: Number(headers['x-delivery-count'] ?? 0) || 0,
  };
}

/**
 * The depth of `name`, or a ConfigError (exit 2) when it does not exist. Checked on a throwaway channel
 * because a 404 closes the channel it happens on.
 */
async function depthOf(connection: ChannelModel, name: string, missing: string): Promise<number> {
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  try {
    return (await channel.checkQueue(name)).messageCount;
  } catch (error) {
    if ((error as { code?: unknown }).code === 404) throw new ConfigError(missing, { cause: error });
    throw error;
  } finally {
    await channel.close().catch(() => {});
  }
}

const missingDlq = (queue: string): string => `no dead-letter queue "${deadLetterQueueName(queue)}"`;

/**
 * Consumes the dead-letter queue until `want` messages arrived (or none came for `idleMs`), handing each to
 * `onMessage`. Consuming rather than `basic.get`: a get on a quorum queue is one Raft round each (about
 * 50 ms here), a consumer with a prefetch streams them. Messages left unacked go back when the caller
 * closes the channel; a channel close (unlike a nack, which moves them to the tail of a quorum queue)
 * returns them to the head in their original order, on quorum and classic queues alike.
 */
async function consumeSome(
  channel: Channel,
  dlq: string,
  want: number,
  idleMs: number,
  onMessage: (m: ConsumeMessage) => boolean | void,
  activity: { touch: () => void } = { touch: () => {} },
): Promise<void> {
  if (want <= 0) return;
  let seen = 0;
  let done = false;
  await new Promise<void>((resolve, reject) => {
    let idle: NodeJS.Timeout | undefined;
    let tag: string | undefined;
    const finish = (error?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      channel.removeListener('close', onClose);
      // Cancel so that nothing more arrives while the caller waits for confirms and closes the channel.
      const stop = tag === undefined ? Promise.resolve() : channel.cancel(tag).then(() => undefined, () => undefined);
      void stop.then(() => (error === undefined ? resolve() : reject(error)));
    };
    const onClose = (): void => finish(new RabbitWorkerError(ErrorCode.CONSUMER_LOST, `the channel to "${dlq}" closed during the operation; unacknowledged dead letters stay in the queue`));
    const arm = (): void => {
      if (done) return;
      clearTimeout(idle);
      idle = setTimeout(() => finish(), idleMs);
    };
    activity.touch = arm;
    channel.once('close', onClose);
    arm();
    channel
      .consume(dlq, (message) => {
        if (message === null || done) return;
        seen++;
        arm();
        if (onMessage(message) === false || seen >= want) finish();
      }, { noAck: false })
      .then((ok) => {
        tag = ok.consumerTag;
        // Finished before consume-ok arrived: cancel now.
        if (done) void channel.cancel(tag).catch(() => {});
      }, finish);
  });
}

/**
 * Acks confirmed dead letters a few at a time rather than one by one. Besides being cheaper, this is what
 * keeps them acked: a quorum queue's channel queues settlements beyond a few dozen pending commands, and
 * drops those still queued when the channel closes, so thousands of single acks sent just before the
 * close came back as duplicates (seen on 3.10: 116 of 2,000). With `contiguous`, one `multiple` ack covers
 * every delivery tag up to the last one whose predecessors are all confirmed (no message is held back in
 * that mode); otherwise each tag is acked, once per event-loop turn.
 */
class AckCoalescer {
  readonly #confirmed = new Set<number>();
  #pending: ConsumeMessage[] = [];
  #next = 1;
  #scheduled = false;

  constructor(
    private readonly channel: Channel,
    private readonly contiguous: boolean,
  ) {}

  confirmed(message: ConsumeMessage): void {
    if (this.contiguous) this.#confirmed.add(message.fields.deliveryTag);
    else this.#pending.push(message);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.#scheduled = false;
    if (!this.contiguous) {
      for (const message of this.#pending) this.channel.ack(message);
      this.#pending = [];
      return;
    }
    const from = this.#next;
    while (this.#confirmed.delete(this.#next)) this.#next++;
    if (this.#next > from) this.channel.ack({ fields: { deliveryTag: this.#next - 1 } } as ConsumeMessage, true);
  }
}

/**
 * The first `limit` messages of `<queue>.dlq`, left in place and in order: they are consumed unacked on a
 * channel of their own, which is then closed so that the broker returns them all to the head.
 * Throws ConfigError when `<queue>.dlq` does not exist.
 */
export async function listDeadLetters(connection: ChannelModel, queue: string, options: ListOptions = {}): Promise<{ messages: DeadLetter[]; depth: number }> {
  const dlq = deadLetterQueueName(queue);
  const depth = await depthOf(connection, dlq, missingDlq(queue));
  const limit = options.limit ?? 100;
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  const messages: DeadLetter[] = [];
  try {
    await channel.prefetch(Math.min(limit, depth) || 1);
    await consumeSome(channel, dlq, Math.min(limit, depth), options.idleMs ?? 3000, (m) => void messages.push(toDeadLetter(m)));
  } finally {
    await channel.close().catch(() => {});
  }
  return { messages, depth };
}

/**
 * Moves messages from `<queue>.dlq` back to `<queue>`, at least once: each copy is published persistently
 * and `mandatory` with a confirm, its failure headers removed so that it gets a fresh `maxAttempts`; the
 * dead letter is acked only once the broker confirmed the copy. A copy the broker returns or refuses
 * leaves its dead letter in place, and the replay stops with an error. Only the messages present at the
 * start are considered, so that messages that fail again during the replay do not loop.
 */
export async function replayDeadLetters(connection: ChannelModel, queue: string, options: ReplayOptions = {}): Promise<ReplayResult> {
  const dlq = deadLetterQueueName(queue);
  const depth = await depthOf(connection, dlq, missingDlq(queue));
  await depthOf(connection, queue, `no queue "${queue}" to replay into (its dead-letter queue "${dlq}" exists)`);
  const wanted = options.ids === undefined ? undefined : new Set(options.ids);
  const scan = wanted === undefined ? Math.min(options.limit ?? depth, depth) : depth;
  const total = wanted === undefined ? scan : Math.min(wanted.size, options.limit ?? wanted.size);
  const started = Date.now();
  const channel = await connection.createConfirmChannel();
  channel.on('error', () => {});
  let replayed = 0;
  let selected = 0;
  let failure: RabbitWorkerError | undefined;
  // Confirms count as activity: a full window waiting on a slow disk is not an idle queue.
  const activity = { touch: (): void => {} };
  const found = new Set<string>();
  const acks = new AckCoalescer(channel, wanted === undefined);
  channel.on('return', () => {
    failure ??= new RabbitWorkerError(ErrorCode.PUBLISH_UNROUTABLE, `queue "${queue}" did not take a replayed message (deleted during the replay?); it stays in "${dlq}"`);
  });
  try {
    // The prefetch bounds the unconfirmed copies, since a dead letter is acked only after its copy's confirm.
    // With --id the others are held unacked until the end, so the prefetch cannot bound them too.
    await channel.prefetch(wanted === undefined ? Math.max(1, Math.min(options.window ?? 500, scan)) : 0);
    await consumeSome(channel, dlq, scan, options.idleMs ?? 3000, (message) => {
      if (failure !== undefined) return false;
      const id = message.properties.messageId === undefined ? undefined : String(message.properties.messageId);
      if (wanted !== undefined && (id === undefined || !wanted.has(id) || selected >= total)) return;
      selected++;
      if (id !== undefined) found.add(id);
      const publishOptions: Options.Publish = {
        ...(definedProperties(message) as Options.Publish),
        headers: cleanReplayHeaders(message.properties.headers as Record<string, unknown> | undefined),
        deliveryMode: 2,
        persistent: true,
        mandatory: true,
      };
      channel.publish('', queue, message.content, publishOptions, (error) => {
        // A return comes before its confirm: after one, leave every later dead letter where it is.
        if (error !== null && error !== undefined) failure ??= new RabbitWorkerError(ErrorCode.PUBLISH_REFUSED, `the broker refused a replayed message for "${queue}"`, { cause: error });
        activity.touch();
        if (failure !== undefined) return;
        acks.confirmed(message);
        replayed++;
        options.onProgress?.({ replayed, total, elapsedMs: Date.now() - started });
      });
      return wanted === undefined || selected < total;
    }, activity);
    await channel.waitForConfirms().catch(() => {});
    acks.flush();
    // A round trip on this channel, so that the last acks left before the close does.
    await channel.checkQueue(dlq).catch(() => {});
  } finally {
    // Closing returns the dead letters left unacked (not selected, or past the limit) to the head, in order.
    await channel.close().catch(() => {});
  }
  if (failure !== undefined) throw failure;
  return {
    replayed,
    // Arithmetic, not a fresh depth: a quorum queue applies acks asynchronously and would count some twice.
    remaining: Math.max(0, depth - replayed),
    elapsedMs: Date.now() - started,
    missingIds: (options.ids ?? []).filter((id) => !found.has(id)),
  };
}

/** Empties `<queue>.dlq`; resolves with how many messages were removed. */
export async function purgeDeadLetters(connection: ChannelModel, queue: string): Promise<number> {
  const dlq = deadLetterQueueName(queue);
  await depthOf(connection, dlq, missingDlq(queue));
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  try {
    return (await channel.purgeQueue(dlq)).messageCount;
  } finally {
    await channel.close().catch(() => {});
  }
}

/** The dead-letter queue's current depth; ConfigError when it does not exist. */
export function deadLetterDepth(connection: ChannelModel, queue: string): Promise<number> {
  return depthOf(connection, deadLetterQueueName(queue), missingDlq(queue));
}

/** The body as text when it is UTF-8 without control characters, else base64: what `--json` prints. */
export function bodyOf(body: Buffer): { encoding: 'utf8' | 'base64'; text: string } {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    // eslint-disable-next-line no-control-regex
    if (!/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return { encoding: 'utf8', text };
  } catch {
    // not UTF-8: base64 below
  }
  return { encoding: 'base64', text: body.toString('base64') };
}
