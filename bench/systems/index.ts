import { amqplibSystem } from './amqplib.js';
import { bullmqSystem } from './bullmq.js';
import { rabbitWorkerNoMetricsSystem, rabbitWorkerSystem } from './rabbit-worker.js';
import { rabbitmqClientSystem } from './rabbitmq-client.js';
import { rascalSystem } from './rascal.js';
import type { System } from './types.js';

/** In the order they alternate; the baseline first. */
export const SYSTEMS: System[] = [amqplibSystem, rabbitWorkerSystem('thread'), rabbitWorkerNoMetricsSystem, rabbitWorkerSystem('none'), rascalSystem, rabbitmqClientSystem, bullmqSystem];
/** Names for several systems at once in `--only`. */
export const SYSTEM_GROUPS: Record<string, string[]> = { metrics: ['rw-thread', 'rw-nometrics'] };
export const BASELINE_ID = amqplibSystem.id;
