import type { ConsumeMessage } from 'amqplib';
import type { BrokerSession } from '../broker/session.js';
import { systemClock, type Clock } from '../clock.js';
import { Deadline, raceDeadline } from '../deadline.js';
import { ErrorCode, isPermanent, type ErrorInfo } from '../errors.js';
import type { IsolateRestartReason } from '../metrics/names.js';
import type { Logger } from '../log/logger.js';
import { assess, type Assessment } from './attempt-policy.js';
import { DeadlineSweep } from './deadline-sweep.js';
import { Delivery } from './delivery.js';
import type { WorkerSettings } from './options.js';
import { OutageJournal } from './outage-journal.js';
import { Quarantine, type Lane } from './quarantine.js';
import type { CallbackRunner } from './runner.js';
import type { Settlement } from './settlement.js';
import type { SettledOutcome, Settler } from './settler.js';
import { ShutdownHelper } from './shutdown-helper.js';
import type { ShutdownReason } from './shutdown-reason.js';

/** How long `shutdown()` may take for the messages of one interruption. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;

/** Message ids remembered with how their last delivery here ended, for an honest dead-letter reason. */
const ENDINGS_MEMORY = 10_000;

/** How an interrupted delivery ended, in the words of a dead-letter reason. */
const INTERRUPTED: Record<ShutdownReason, string> = {
  'out-of-memory': 'its callback exhausted the heap of its isolate (memoryLimitMb)',
  'uncaught-exception': 'its callback threw where nothing caught it (an uncaught exception)',
  'unhandled-rejection': 'its callback left a promise rejected with nothing to catch it (an unhandled rejection)',
  exit: 'its callback called process.exit()',
  'stop-timeout': 'its worker was stopped before the callback finished (stopTimeout)',
  recycled: 'its isolate was replaced for another callback (not counted)',
};
/** Endings of an isolate that a message alone caused: its retry runs in the quarantine isolate. */
const CULPRIT_REASONS: ReadonlySet<ShutdownReason> = new Set(['out-of-memory', 'uncaught-exception', 'unhandled-rejection', 'exit']);
/** Recently finished deliveries kept per consumer: their acks may not have reached the broker before a connection loss. */
const RECENT_MEMORY = 512;
/** How long a redelivery past maxAttempts waits for an outage announcement before it is dead-lettered. */
export const OUTAGE_VERDICT_MS = 3_000;

export interface ConsumerOptions {
  settings: WorkerSettings;
  worker: string;
  runner: CallbackRunner;
  logger: Logger;
  clock?: Clock;
  /** Called when the `maxMessages`-th callback starts: time to stop taking messages. */
  onLimit?: () => void;
  /** Called when a callback on the main thread ignores its deadline: only a new process can free it. */
  onStuck?: () => void;
  /** Called when callbacks can no longer run (a new isolate cannot start): the process must end. */
  onFailed?: (error: unknown) => void;
  /** Every final outcome, for metrics. */
  onSettled?: (delivery: Delivery, outcome: SettledOutcome) => void;
  /** Every delivery as it arrives, for metrics. */
  onReceived?: (delivery: Delivery) => void;
  /** A callback isolate was replaced, for metrics. */
  onIsolateRestart?: (reason: IsolateRestartReason) => void;
}

/**
 * Receives deliveries, starts their callbacks, and hands every decision to the {@link Settler}: the
 * callback's own, or the default (ack when it returned, retry with backoff when it threw, reject for
 * PermanentError or past `maxAttempts`). Arms the ShutdownHelper for every callback so that an
 * interruption runs `shutdown()` for each message. What counts as an attempt is {@link assess}'s;
 * suspects are kept apart by the {@link Quarantine}; deadlines are the {@link DeadlineSweep}'s.
 */
export class Consumer {
  readonly #settings: WorkerSettings;
  readonly #runner: CallbackRunner;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #options: ConsumerOptions;
  readonly #inflight = new Map<number, Delivery>();
  readonly #helper: ShutdownHelper<Delivery>;
  readonly #quarantine: Quarantine;
  readonly #sweep: DeadlineSweep;
  /** How the last delivery of a message ended here, when that was not by its callback's own settlement. */
  readonly #endings = new Map<string, string>();
  /** Messages that connection losses returned, here and in other workers: not attempts. */
  readonly journal: OutageJournal;
  /** [session, message id] of recently finished deliveries. */
  #recent: Array<[BrokerSession, string]> = [];
  #settler: Settler | undefined;
  #session: BrokerSession | undefined;
  #handled = 0;
  #started = 0;
  #warnedUnsettled = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: ConsumerOptions) {
    this.#options = options;
    this.#settings = options.settings;
    this.#runner = options.runner;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#quarantine = new Quarantine(options.runner.hasQuarantineLane);
    this.journal = new OutageJournal({ logger: options.logger, clock: this.#clock });
    this.#helper = new ShutdownHelper<Delivery>((delivery, reason, error) => this.#runner.shutdown(delivery.data, reason, error));
    this.#sweep = new DeadlineSweep({
      messageTimeout: options.settings.messageTimeout,
      consumerTimeout: options.settings.consumerTimeout,
      logger: options.logger,
      clock: this.#clock,
      running: () => this.#helper.armed,
      onTimeout: (delivery, reason) => {
        this.#logger.warn(`${reason}; its signal is aborted and the message retried`, { messageId: delivery.messageId, attempt: delivery.data.attempt });
        this.#runner.abort(delivery.id, reason);
        this.#settle(delivery, { kind: 'retry' }, { name: 'DeadlineExceeded', message: reason });
      },
      onIgnored: (delivery) => {
        this.#logger.error('callback ignored its aborted signal; recycling where it runs', { messageId: delivery.messageId });
        this.#helper.disarm(delivery); // already retried: no shutdown() for it
        this.#finish(delivery);
        if (!this.#runner.recycle(delivery.id)) this.#options.onStuck?.();
      },
    });
  }

  /** Messages handled (settled) so far. */
  get handled(): number {
    return this.#handled;
  }

  /** Deliveries received and not yet finished (running, or waiting behind a suspect). */
  get inflight(): number {
    return this.#inflight.size;
  }

  /**
   * Deliveries this worker holds unacked at the broker: those in flight, and those settled but waiting for
   * their copy (a retry, a dead letter) to be confirmed — under an alarm these can be many.
   */
  get unacked(): number {
    return this.#inflight.size + (this.#settler?.pending ?? 0);
  }

  /** The message ids in flight, for status reports. */
  inflightIds(): string[] {
    return [...this.#inflight.values()].map((d) => d.messageId ?? `#${d.id}`);
  }

  /** The runner's callbacks for this consumer. */
  readonly events = {
    settle: (id: number, settlement: Settlement): void => {
      const delivery = this.#inflight.get(id);
      if (delivery !== undefined) this.#settle(delivery, settlement);
    },
    done: (id: number, error: ErrorInfo | undefined): void => this.#done(id, error),
    crash: (ids: number[], reason: ShutdownReason, error: unknown, options?: { bystanders?: boolean }): void => {
      void this.interrupted(reason, error, { ids, ...(options?.bystanders === true ? { bystanders: true } : {}) });
    },
    failed: (error: unknown): void => this.#options.onFailed?.(error),
    restarted: (reason: IsolateRestartReason): void => this.#options.onIsolateRestart?.(reason),
  };

  /** Consumes on `session` (a new one after each reconnection), settling through `settler`. */
  async start(session: BrokerSession, settler: Settler, onCancel: () => void): Promise<void> {
    this.#session = session;
    this.#settler = settler;
    await session.consume(this.#settings.queue, (message) => this.#receive(session, settler, message), onCancel);
    this.#sweep.start();
  }

  /**
   * The channel of `session` closed (with its connection, or alone: consumer_timeout, a channel error). The
   * broker requeues every delivery that was unacked on it. Callbacks still running go on, but nothing of
   * theirs can be settled there; deliveries that had not started are forgotten, never started later.
   * Returns the ids of the messages the broker may redeliver (in flight, or finished so recently that their
   * ack may not have left), remembered here as returned by an outage when `outage` is true.
   */
  channelLost(session: BrokerSession, options: { outage?: boolean } = {}): string[] {
    for (const delivery of this.#quarantine.drop((d) => d.session !== session)) this.#finish(delivery, false);
    const ids = new Set<string>();
    for (const delivery of this.#inflight.values()) if (delivery.session === session && delivery.messageId !== undefined) ids.add(delivery.messageId);
    for (const [from, id] of this.#recent) if (from === session) ids.add(id);
    if (options.outage === true) this.journal.remember(ids);
    return [...ids];
  }

  /** Stops the deadline sweep; the last step of stopping. */
  close(): void {
    this.#sweep.stop();
  }

  /** Stops receiving; callbacks in flight go on. */
  async cancel(deadline?: Deadline): Promise<void> {
    await this.#session?.cancel(deadline);
  }

  /** Resolves true once no callback runs and every settlement reached the broker; false at the deadline. */
  async idle(deadline: Deadline): Promise<boolean> {
    if (this.#inflight.size > 0) {
      const finished = await new Promise<boolean>((resolve) => {
        const onAbort = (): void => resolve(false);
        if (deadline.expired) return resolve(false);
        deadline.signal.addEventListener('abort', onAbort, { once: true });
        this.#idleWaiters.push(() => {
          deadline.signal.removeEventListener('abort', onAbort);
          resolve(true);
        });
      });
      if (!finished) return false;
    }
    if (this.#settler === undefined) return true;
    const settled = await Promise.race([this.#settler.idle().then(() => true), new Promise<boolean>((resolve) => {
      if (deadline.expired) resolve(false);
      deadline.signal.addEventListener('abort', () => resolve(false), { once: true });
    })]);
    return settled;
  }

  /**
   * Callbacks were interrupted (`reason`): runs `shutdown()` once per message still running (of `ids` when
   * given: the messages of one isolate), then nacks whatever `shutdown()` left unsettled, so nothing is lost
   * and nothing is silently acked. Messages that died beside others come back as suspects (that attempt not
   * counted); `bystanders` come back without counting the attempt either.
   */
  async interrupted(reason: ShutdownReason, error: unknown, options: { cancelFirst?: boolean; ids?: number[]; bystanders?: boolean; shutdownTimeoutMs?: number } = {}): Promise<void> {
    const ids = options.ids === undefined ? undefined : new Set(options.ids);
    const pick = (): Delivery[] => [...this.#helper.armed].filter((d) => ids === undefined || ids.has(d.id));
    for (const delivery of pick()) delivery.interrupted = true;
    // A process that is about to die stops deliveries first, so that a nack cannot come straight back to it.
    if (options.cancelFirst === true) await this.cancel(new Deadline(5000, () => new Error('cancel timed out'), { clock: this.#clock }));
    // Already settled (retried past messageTimeout, say): nothing for shutdown() to decide.
    for (const delivery of pick().filter((d) => d.settlement !== undefined)) {
      this.#helper.disarm(delivery);
      this.#finish(delivery);
    }
    const deliveries = pick();
    for (const delivery of deliveries) {
      delivery.interrupted = true;
      this.#remember(delivery, INTERRUPTED[reason]);
      if (options.bystanders === true || reason === 'recycled') delivery.requeueUncounted = true;
      else if (deliveries.length > 1 && reason !== 'stop-timeout') delivery.requeueAsSuspect = true;
      else if (ids !== undefined && this.#runner.hasQuarantineLane && CULPRIT_REASONS.has(reason)) delivery.requeueAsCulprit = true;
    }
    if (deliveries.length === 0) return;
    this.#logger.critical(`callbacks interrupted (${reason}); running shutdown() for ${deliveries.length} message(s)`, {
      reason,
      messageIds: deliveries.map((d) => d.messageId),
      ...(error !== undefined ? { err: error } : {}),
    });
    const { failed, errors } = await this.#helper.fire(deliveries, reason, error, options.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_MS);
    failed.forEach((delivery, i) => {
      this.#logger.critical(`shutdown() failed: ${describe(errors[i])}; message nacked`, { messageId: delivery.messageId, reason });
    });
    for (const delivery of deliveries) {
      if (delivery.settlement === undefined) this.#settle(delivery, { kind: 'nack' });
      this.#finish(delivery);
    }
    // Bounded: a copy can wait long for the broker (an alarm blocks publishing); a stop must not wait with it
    // (what is not settled then is still unacked at the broker, which requeues it when the channel closes).
    const settling = new Deadline(options.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_MS, () => new Error('settling took too long'), { clock: this.#clock });
    await raceDeadline(this.#settler?.idle() ?? Promise.resolve(), settling).catch(() => {});
    settling.clear();
  }

  #receive(session: BrokerSession, settler: Settler, message: ConsumeMessage): void {
    const assessment = this.#discounted(message, assess(message, this.#settings.queueType));
    const delivery = new Delivery(message, session, this.#settings.queue, assessment);
    this.#inflight.set(delivery.id, delivery);
    this.#options.onReceived?.(delivery);
    if (delivery.data.attempt > this.#settings.maxAttempts) {
      // A redelivery at the limit may be an outage's return whose announcement is still on its way.
      if (message.fields.redelivered) {
        const timer = this.#clock.setTimeout(() => this.#verdict(delivery, settler), OUTAGE_VERDICT_MS);
        timer.unref?.();
      } else this.#exhausted(delivery, settler);
      return;
    }
    this.#admit(delivery, settler);
  }

  /** A redelivery that a connection loss caused (announced by whichever worker lost it) is not an attempt. */
  #discounted(message: ConsumeMessage, assessment: Assessment): Assessment {
    if (!message.fields.redelivered || !this.journal.take(message.properties.messageId as string | undefined)) return assessment;
    return { ...assessment, attempt: Math.max(1, assessment.attempt - 1), recount: false };
  }

  #verdict(delivery: Delivery, settler: Settler): void {
    if (!this.#inflight.has(delivery.id)) return;
    if (delivery.session.closed) return this.#finish(delivery, false);
    if (this.journal.take(delivery.messageId)) {
      delivery.data.attempt = Math.max(1, delivery.data.attempt - 1);
      this.#admit(delivery, settler);
    } else this.#exhausted(delivery, settler);
  }

  #exhausted(delivery: Delivery, settler: Settler): void {
    settler.settle(delivery, { kind: 'reject', reason: this.#exhaustedReason(delivery), cause: 'max_attempts' });
    this.#countTowardsLimit();
    this.#finish(delivery);
  }

  #admit(delivery: Delivery, settler: Settler): void {
    if (delivery.assessment.recount) {
      // A classic queue counts nothing: a message whose process died would come back forever. Count this
      // delivery in a copy at the back of the queue, and handle the copy.
      settler.recount(delivery);
      this.#finish(delivery, false);
      return;
    }
    const lane = this.#quarantine.admit(delivery, this.#helper.armed.size);
    if (lane !== undefined) this.#start(delivery, lane);
  }

  #exhaustedReason(delivery: Delivery): string {
    const { attempt } = delivery.data;
    const head = `delivered ${attempt} times, more than maxAttempts (${this.#settings.maxAttempts})`;
    const ending = delivery.messageId === undefined ? undefined : this.#endings.get(delivery.messageId);
    if (ending !== undefined) return `${head}; on its last delivery here, ${ending}`;
    return `${head}; the earlier deliveries were given back (nack) or did not settle: the process, its isolate or its connection died while the callback ran`;
  }

  /** Remembers how the last delivery of `delivery`'s message ended (bounded; the oldest is forgotten first). */
  #remember(delivery: Delivery, ending: string): void {
    const id = delivery.messageId;
    if (id === undefined) return;
    this.#endings.delete(id);
    if (this.#endings.size >= ENDINGS_MEMORY) this.#endings.delete(this.#endings.keys().next().value as string);
    this.#endings.set(id, ending);
  }

  #start(delivery: Delivery, lane: Lane): void {
    this.#countTowardsLimit();
    delivery.startedAt = this.#clock.now();
    this.#helper.arm(delivery);
    this.#runner.dispatch(delivery.data, lane);
  }

  /**
   * maxMessages counts messages as they are taken (a callback starts, or one is dead-lettered for its
   * attempts), so that the consumer is cancelled before the last message's ack invites another delivery.
   */
  #countTowardsLimit(): void {
    if (++this.#started === this.#settings.maxMessages) this.#options.onLimit?.();
  }

  #done(id: number, error: ErrorInfo | undefined): void {
    const delivery = this.#inflight.get(id);
    if (delivery === undefined || delivery.interrupted) return;
    this.#helper.disarm(delivery);
    if (delivery.settlement === undefined) {
      if (error === undefined) {
        if (!this.#warnedUnsettled) {
          this.#warnedUnsettled = true;
          this.#logger.warn('callback returned without settling its message; acked (call message.ack() at the end of callback; this is logged once)', {
            code: 'UNSETTLED_ACKED',
            messageId: delivery.messageId,
          });
        }
        this.#settle(delivery, { kind: 'ack' });
      } else if (isPermanent(error)) {
        this.#settle(delivery, { kind: 'reject', reason: error.message, cause: error.code === ErrorCode.MALFORMED_MESSAGE ? 'malformed' : error.code === ErrorCode.INVALID_PAYLOAD ? 'invalid_payload' : 'permanent_error' }, error);
      } else {
        // the settler dead-letters a retry of the last attempt: the line must not promise another one
        const { attempt } = delivery.data;
        const { maxAttempts } = this.#settings;
        this.#logger.error(`callback failed: ${error.message}; ${attempt >= maxAttempts ? `no attempt left (maxAttempts ${maxAttempts})` : `retrying (attempt ${attempt} of ${maxAttempts})`}`, {
          messageId: delivery.messageId,
          attempt: delivery.data.attempt,
          err: error,
        });
        this.#settle(delivery, { kind: 'retry' }, error);
      }
    }
    this.#finish(delivery);
  }

  #settle(delivery: Delivery, settlement: Settlement, failure?: ErrorInfo): void {
    const settler = this.#settler;
    if (settler === undefined || delivery.settlement !== undefined) return;
    settler.settle(delivery, settlement, failure);
  }

  /** Called by the settler's owner for every final outcome. */
  settled(delivery: Delivery, outcome: SettledOutcome): void {
    if (outcome === 'lost-channel' && !delivery.interrupted) {
      this.#remember(delivery, 'its callback completed, but the channel closed before the ack reached the broker (consumer_timeout? keep messageTimeout below consumerTimeout)');
    } else if (outcome === 'requeue' && !delivery.interrupted && delivery.settlement?.kind === 'nack') {
      this.#remember(delivery, 'its callback gave it back with nack()');
    }
    this.#options.onSettled?.(delivery, outcome);
  }

  /** `counted`: false for a delivery that only moved the message (a recount) or never ran, not handled it. */
  #finish(delivery: Delivery, counted = true): void {
    if (!this.#inflight.delete(delivery.id)) return;
    if (counted) this.#handled++;
    if (delivery.messageId !== undefined) {
      this.#recent.push([delivery.session, delivery.messageId]);
      if (this.#recent.length > RECENT_MEMORY * 2) this.#recent = this.#recent.slice(-RECENT_MEMORY);
    }
    this.#quarantine.finished(delivery);
    for (let next = this.#quarantine.next(this.#helper.armed.size); next !== undefined; next = this.#quarantine.next(this.#helper.armed.size)) {
      if (!this.#inflight.has(next.delivery.id)) continue;
      this.#start(next.delivery, next.lane);
    }
    if (this.#inflight.size === 0 && this.#idleWaiters.length > 0) this.#idleWaiters.splice(0).forEach((resolve) => resolve());
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error) return String((error as { message: unknown }).message);
  return String(error);
}
