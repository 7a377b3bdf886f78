import type { Options } from 'amqplib';
import type { Deadline } from '../deadline.js';
import { ErrorCode, RabbitWorkerError } from '../errors.js';
import type { ConfirmLink, PublishOutcome } from './confirm-link.js';
import { bindDelayDelivery, checkDelayableQueue, declareDelayLevels, delayRoutingKey, delaySeconds, entryExchange } from './delay-topology.js';

/**
 * Publishes through the delay levels on a {@link ConfirmLink}. The levels are declared on first use (and
 * again when a copy comes back because one of them was deleted); a work queue is checked and bound to the
 * delivery exchange once, so that a delayed message cannot expire into nothing.
 */
export class DelayedDelivery {
  readonly #link: ConfirmLink;
  #levels: Promise<void> | undefined;
  readonly #bound = new Map<string, Promise<void>>();

  constructor(link: ConfirmLink) {
    this.#link = link;
  }

  /**
   * Sends `body` to `queue` after `delayMs` (whole seconds, rounded up). Resolves once the broker confirmed
   * the message into a level; rejects PUBLISH_UNROUTABLE when `queue` does not exist.
   */
  async send(queue: string, delayMs: number, body: Buffer, properties: Options.Publish, deadline: Deadline, options: { bind?: boolean } = {}): Promise<void> {
    checkDelayableQueue(queue);
    const seconds = delaySeconds(delayMs);
    if (options.bind !== false) await this.#bind(queue, deadline);
    if (seconds > 0) await this.#declareLevels(deadline);
    const { expiration: _expiration, ...rest } = properties;
    let outcome: PublishOutcome = await this.#link.publish(entryExchange(seconds), delayRoutingKey(seconds, queue), body, rest, deadline);
    if (outcome === 'returned') {
      // A level (or the binding) was deleted since we declared it: declare again, once.
      this.#levels = undefined;
      this.#bound.delete(queue);
      await this.#bind(queue, deadline);
      if (seconds > 0) await this.#declareLevels(deadline);
      outcome = await this.#link.publish(entryExchange(seconds), delayRoutingKey(seconds, queue), body, rest, deadline);
      if (outcome === 'returned') throw new RabbitWorkerError(ErrorCode.PUBLISH_UNROUTABLE, `the delay levels did not take a message for "${queue}" even after declaring them again`);
    }
  }

  /** Forgets what was declared (after a reconnection to another node, or a deleted queue). */
  reset(): void {
    this.#levels = undefined;
    this.#bound.clear();
  }

  #declareLevels(deadline: Deadline): Promise<void> {
    this.#levels ??= this.#link.declare(deadline, (channel) => declareDelayLevels(channel));
    const current = this.#levels;
    current.catch(() => {
      if (this.#levels === current) this.#levels = undefined;
    });
    return current;
  }

  #bind(queue: string, deadline: Deadline): Promise<void> {
    let bound = this.#bound.get(queue);
    if (bound === undefined) {
      bound = this.#link.declare(deadline, async (channel) => {
        await channel.checkQueue(queue).catch((error: unknown) => {
          throw new RabbitWorkerError(ErrorCode.PUBLISH_UNROUTABLE, `queue "${queue}" does not exist: the message was not delivered`, { cause: error });
        });
        await bindDelayDelivery(channel, queue);
      });
      this.#bound.set(queue, bound);
      bound.catch(() => this.#bound.delete(queue));
    }
    return bound;
  }
}
