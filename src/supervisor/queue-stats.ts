import { countDelayed } from '../broker/delay-census.js';
import { QueueProbe } from '../broker/queue-probe.js';
import { deadLetterQueueName } from '../broker/topology.js';
import { raceDeadline, Deadline } from '../deadline.js';
import type { SupervisorBroker } from './supervisor-broker.js';

/** What AMQP tells of a queue without consuming it (a passive declare). */
export interface QueueDepth {
  /** Messages ready (not those delivered and unacked). */
  ready: number | null;
  consumers: number | null;
  /** Depth of `<queue>.dlq`. */
  dead: number | null;
  /** Epoch ms of the reading. */
  at: number;
}

/** How long one round of passive declares may take before its figures count as unknown. */
const ROUND_TIMEOUT_MS = 10_000;

/**
 * The depths of the queues the supervisor knows, read every few seconds with passive declares
 * (`checkQueue`) on the supervisor's connection: `ready` and `consumers` of each work queue, the depth of
 * its `<queue>.dlq`, and the messages waiting in the shared delay levels (`rabbit-worker.delay.NN`).
 *
 * What AMQP cannot tell: `unacked` (delivered, not yet acknowledged) needs the management API, which is
 * not assumed; and the delay levels are shared by every queue, so the delayed count is one figure for the
 * whole broker: per queue it is unknowable without consuming them.
 */
export class QueueStats {
  readonly #broker: SupervisorBroker;
  readonly #queues: () => string[];
  readonly #intervalMs: number;
  readonly #depths = new Map<string, QueueDepth>();
  #delayed: number | null = null;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(broker: SupervisorBroker, queues: () => string[], intervalMs = 5_000) {
    this.#broker = broker;
    this.#queues = queues;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    void this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The latest reading of `queue`; unknown figures are null (broker unreachable, queue not declared yet). */
  depth(queue: string): QueueDepth {
    return this.#depths.get(queue) ?? { ready: null, consumers: null, dead: null, at: 0 };
  }

  /** Messages in every delay level, all queues together; null when unknown. */
  get delayed(): number | null {
    return this.#delayed;
  }

  /** One round now (rounds never overlap). */
  refresh(): Promise<void> {
    this.#running ??= this.#round().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #round(): Promise<void> {
    const queues = this.#queues();
    const deadline = new Deadline(ROUND_TIMEOUT_MS, () => new Error('queue depths took too long'));
    try {
      const connection = await raceDeadline(this.#broker.connection(), deadline);
      const probe = new QueueProbe(connection);
      try {
        for (const queue of queues) {
          const work = await raceDeadline(probe.check(queue), deadline);
          const dead = await raceDeadline(probe.check(deadLetterQueueName(queue)), deadline);
          this.#depths.set(queue, { ready: work?.messageCount ?? null, consumers: work?.consumerCount ?? null, dead: dead?.messageCount ?? null, at: Date.now() });
        }
        this.#delayed = (await raceDeadline(countDelayed(probe), deadline)).total;
      } finally {
        await probe.close();
      }
    } catch {
      // unreachable, or too slow: every figure becomes unknown rather than stale
      const at = Date.now();
      for (const queue of queues) this.#depths.set(queue, { ready: null, consumers: null, dead: null, at });
      this.#delayed = null;
    } finally {
      deadline.clear();
    }
  }
}
