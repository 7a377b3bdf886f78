import type { QueueType } from '../lib/broker.js';

/** What one consumer process is asked to do; passed to peer consumers as JSON in argv[2]. */
export interface ConsumerJob {
  mode: 'drain' | 'latency';
  /** Queue name (RabbitMQ) or BullMQ queue name (Redis). */
  queue: string;
  queueType: QueueType;
  /** prefetch (AMQP) or concurrency (BullMQ). */
  prefetch: number;
  /** The consumer reports `done` after this many messages. */
  messages: number;
  amqpUrl: string;
  redisPort: number;
  /** latency mode: where the consumer writes its latencies (µs, JSON array). */
  outFile?: string;
}

export interface ChildCommand {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/** A system under test, as the driver sees it: how to start its consumer and how to read its stdout. */
export interface System {
  id: string;
  label: string;
  backend: 'rabbitmq' | 'redis';
  /** True for systems that can run the latency job. */
  latency: boolean;
  command(job: ConsumerJob): ChildCommand;
  /** The line that says "consuming now". */
  isConsuming(line: string): boolean;
  /** The line that says "the last message was acked". */
  isDone(line: string): boolean;
}
