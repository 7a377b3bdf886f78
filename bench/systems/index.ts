import { amqplibSystem } from './amqplib.js';
import { bullmqSystem } from './bullmq.js';
import { rabbitWorkerSystem } from './rabbit-worker.js';
import { rabbitmqClientSystem } from './rabbitmq-client.js';
import { rascalSystem } from './rascal.js';
import type { System } from './types.js';

/** In the order they alternate; the baseline first. */
export const SYSTEMS: System[] = [amqplibSystem, rabbitWorkerSystem('thread'), rabbitWorkerSystem('none'), rascalSystem, rabbitmqClientSystem, bullmqSystem];
export const BASELINE_ID = amqplibSystem.id;
