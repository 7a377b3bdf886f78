import { hostname } from 'node:os';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../log/logger.js';
import type { HandledOutcome } from '../metrics/names.js';
import type { HostInfo } from './dashboard-contract.js';
import type { SupervisorBroker } from './supervisor-broker.js';

/** The exchange every supervisor publishes its heartbeats to (fanout, durable; the messages are not). */
export const EVENTS_EXCHANGE = 'rabbit-worker.events';
/** A supervisor sends a heartbeat this often. */
export const HEARTBEAT_MS = 5_000;
/** A host silent for this many heartbeats is shown offline… */
export const OFFLINE_AFTER_BEATS = 3;
/** …and forgotten after this long. */
export const FORGET_AFTER_MS = 3_600_000;

/** What one host counted for one queue, since its start: the dashboard's rates and charts come from the differences. */
export interface QueueCounters {
  handled: Record<HandledOutcome, number>;
  /** Cumulative counts of `rabbit_worker_handler_duration_seconds` per bucket (every outcome), +Inf last. */
  durations: number[];
  /** Deliveries its processes hold now (received, not finished): the part of `unacked` that is known. */
  inflight: number;
}

/** One heartbeat: a host as the dashboard shows it, and its counters per queue. */
export interface Heartbeat {
  v: 1;
  host: Omit<HostInfo, 'online' | 'self' | 'lastSeen'>;
  queues: Record<string, QueueCounters>;
  /** Epoch ms on the sender's clock. */
  sentAt: number;
}

/** A host as last heard of. */
export interface PeerEntry {
  beat: Heartbeat;
  /** Epoch ms on this supervisor's clock. */
  lastSeen: number;
  online: boolean;
}

/** The id of a supervisor: its host name and config path, so that a restarted supervisor takes its own place back. */
export const hostId = (config: string): string => `${hostname()}:${config}`;

function isHeartbeat(value: unknown): value is Heartbeat {
  const beat = value as Partial<Heartbeat> | null;
  return typeof beat === 'object' && beat !== null && beat.v === 1 && typeof beat.host?.id === 'string' && Array.isArray(beat.host.processes) && typeof beat.queues === 'object';
}

export interface PeersOptions {
  broker: SupervisorBroker;
  /** This supervisor's {@link hostId}. */
  selfId: string;
  /** This supervisor's heartbeat, built when it is sent. */
  self: () => Heartbeat;
  logger: Logger;
  intervalMs?: number;
}

/**
 * Supervisors attached to the same broker see each other, as Celery's events feed Flower: each publishes a
 * heartbeat (its status and counters) every {@link HEARTBEAT_MS} to {@link EVENTS_EXCHANGE}, and reads
 * everyone's through an exclusive, auto-delete queue of its own (bounded, its messages expiring: a
 * supervisor that stalls never piles them up). A host silent for {@link OFFLINE_AFTER_BEATS} heartbeats is
 * offline; after {@link FORGET_AFTER_MS} it is forgotten.
 */
export class Peers {
  readonly #options: PeersOptions;
  readonly #intervalMs: number;
  readonly #peers = new Map<string, PeerEntry>();
  #timer: NodeJS.Timeout | undefined;
  #channel: Channel | undefined;
  #stopped = false;

  constructor(options: PeersOptions) {
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? HEARTBEAT_MS;
  }

  start(): void {
    this.#options.broker.onConnected((connection) => void this.#subscribe(connection));
    this.#timer = setInterval(() => void this.#beat(), this.#intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    const channel = this.#channel;
    this.#channel = undefined;
    await channel?.close().catch(() => {});
  }

  /** Every other host heard of in the last hour, with whether it is online now. */
  others(now = Date.now()): PeerEntry[] {
    const offlineAfter = this.#intervalMs * OFFLINE_AFTER_BEATS;
    const out: PeerEntry[] = [];
    for (const [id, entry] of this.#peers) {
      if (now - entry.lastSeen > FORGET_AFTER_MS) {
        this.#peers.delete(id);
        continue;
      }
      out.push({ ...entry, online: now - entry.lastSeen <= offlineAfter });
    }
    return out;
  }

  async #subscribe(connection: ChannelModel): Promise<void> {
    if (this.#stopped) return;
    try {
      const channel = await connection.createChannel();
      channel.on('error', () => {});
      await channel.assertExchange(EVENTS_EXCHANGE, 'fanout', { durable: true });
      const { queue } = await channel.assertQueue('', {
        exclusive: true,
        autoDelete: true,
        durable: false,
        arguments: { 'x-message-ttl': this.#intervalMs * OFFLINE_AFTER_BEATS, 'x-max-length': 1000 },
      });
      await channel.bindQueue(queue, EVENTS_EXCHANGE, '');
      await channel.consume(queue, (message) => this.#receive(message), { noAck: true });
      this.#channel = channel;
      void this.#beat();
    } catch (error) {
      this.#options.logger.warn(`cannot listen to other supervisors' heartbeats: ${(error as Error).message}`);
    }
  }

  #receive(message: ConsumeMessage | null): void {
    if (message === null) return;
    let beat: unknown;
    try {
      beat = JSON.parse(message.content.toString('utf8'));
    } catch {
      return;
    }
    if (!isHeartbeat(beat)) return;
    // its own, or an earlier run of the same supervisor (same host and config): it is shown from its status
    if (beat.host.id === this.#options.selfId) return;
    this.#peers.set(beat.host.id, { beat, lastSeen: Date.now(), online: true });
  }

  async #beat(): Promise<void> {
    const channel = this.#channel;
    if (channel === undefined || this.#stopped) return;
    try {
      const content = Buffer.from(JSON.stringify(this.#options.self()));
      // not persistent, and gone when nobody read it in time: a heartbeat is only worth anything fresh
      channel.publish(EVENTS_EXCHANGE, '', content, { persistent: false, expiration: String(this.#intervalMs * OFFLINE_AFTER_BEATS), contentType: 'application/json', type: 'rabbit-worker.heartbeat' });
    } catch {
      // the channel closed: the next connection subscribes again
    }
  }
}
