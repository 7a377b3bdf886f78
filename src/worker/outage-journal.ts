import type { ChannelModel } from 'amqplib';
import type { ConfirmLink } from '../broker/confirm-link.js';
import { systemClock, type Clock } from '../clock.js';
import { Deadline } from '../deadline.js';
import type { Logger } from '../log/logger.js';

/** Fanout exchange on which workers tell each other which messages a connection loss returned. */
export const OUTAGE_EXCHANGE = 'rabbit-worker.outages';
/** How long an announced return is remembered: the redelivery comes within seconds. */
const REMEMBER_MS = 10 * 60_000;
const MAX_REMEMBERED = 100_000;

/**
 * A broker-wide memory of the messages that connection losses returned, so that no process counts them
 * as attempts. A quorum queue counts every return in `x-delivery-count`, and cannot tell a worker whose
 * node went away (an outage: not the message's fault) from a worker that died holding it (a crash: maybe
 * the message's fault). The worker that lost its connection knows: once connected again it announces the
 * message ids it held on a fanout exchange, and every worker — whichever the broker redelivered them to —
 * discounts one return per announcement. The announcing worker remembers them at once, locally.
 *
 * A worker whose event loop was blocked long enough to miss heartbeats does not announce: then the
 * connection loss may be the callback's doing (a poison message on the main thread), and it must count.
 */
export class OutageJournal {
  readonly #returns = new Map<string, { count: number; until: number }>();
  readonly #clock: Clock;
  readonly #logger: Logger;

  constructor(options: { logger: Logger; clock?: Clock }) {
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
  }

  /** Records that a connection loss returned these messages (once each). */
  remember(ids: Iterable<string>): void {
    const until = this.#clock.now() + REMEMBER_MS;
    for (const id of ids) {
      const entry = this.#returns.get(id);
      if (entry !== undefined) {
        entry.count++;
        entry.until = until;
        continue;
      }
      if (this.#returns.size >= MAX_REMEMBERED) this.#returns.delete(this.#returns.keys().next().value as string);
      this.#returns.set(id, { count: 1, until });
    }
  }

  /** True (and forgets one) when a connection loss returned `id`: that delivery is not an attempt. */
  take(id: string | undefined): boolean {
    if (id === undefined) return false;
    const entry = this.#returns.get(id);
    if (entry === undefined) return false;
    if (entry.until < this.#clock.now()) {
      this.#returns.delete(id);
      return false;
    }
    if (--entry.count <= 0) this.#returns.delete(id);
    return true;
  }

  /** Listens on `connection` for other workers' announcements (an exclusive queue that dies with it). */
  async listen(connection: ChannelModel): Promise<void> {
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    await channel.assertExchange(OUTAGE_EXCHANGE, 'fanout', { durable: true });
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false, arguments: { 'x-queue-type': 'classic' } });
    await channel.bindQueue(queue, OUTAGE_EXCHANGE, '');
    await channel.consume(
      queue,
      (message) => {
        if (message === null) return;
        try {
          const notice = JSON.parse(message.content.toString('utf8')) as { ids?: unknown };
          if (Array.isArray(notice.ids)) this.remember(notice.ids.filter((id): id is string => typeof id === 'string'));
        } catch {
          this.#logger.debug('ignored a malformed outage notice');
        }
      },
      { noAck: true },
    );
  }

  /** Tells every worker that a connection loss returned `ids` (best effort: bounded, failures logged). */
  async announce(link: ConfirmLink, ids: string[], queue: string): Promise<void> {
    if (ids.length === 0) return;
    const deadline = new Deadline(30_000, () => new Error('announcing the returned messages timed out'), { clock: this.#clock });
    try {
      const body = Buffer.from(JSON.stringify({ v: 1, queue, ids }));
      await link.publish(OUTAGE_EXCHANGE, '', body, { contentType: 'application/json', persistent: false }, deadline);
      this.#logger.debug(`announced ${ids.length} message(s) returned by the connection loss`);
    } catch (error) {
      this.#logger.warn(`could not announce the messages returned by the connection loss (${(error as Error).message}); other workers may count them as attempts`);
    } finally {
      deadline.clear();
    }
  }
}
