/**
 * rabbit-worker: workers that consume RabbitMQ queues and never lose a message.
 * @packageDocumentation
 */
export { WorkerTask, type WorkerTaskClass } from './worker/worker-task.js';
export { MessageAdapter, type MessageOf } from './worker/message-adapter.js';
export {
  defineQueue,
  type QueueDefinition,
  type QueueDefinitionOptions,
  type AnyQueueDefinition,
  type PayloadOf,
  type PayloadInputOf,
  type ReplyOf,
  type ReplyInputOf,
} from './broker/queue-definition.js';
export type { PayloadSchema } from './broker/payload-schema.js';
export { ShutdownHelper, type ShutdownHandler } from './worker/shutdown-helper.js';
export type { ShutdownReason } from './worker/shutdown-reason.js';
export type { Settlement, MessageProperties } from './worker/settlement.js';
export { DEFAULT_SETTINGS, SPARE_MEMORY_UNIT_MB, type WorkerSettings, type Isolation, type QueueType } from './worker/settings.js';
export type { SettingsOverrides } from './worker/options.js';
export type { WorkerState } from './worker/status-report.js';
export { defineConfig, type SupervisorConfigInput } from './supervisor/define-config.js';
export { Publisher, type PublisherOptions, type PublishOptions, type RequestOptions, type QueuePublisher } from './broker/publisher.js';
export { deadLetterQueueName } from './broker/topology.js';
export {
  listDeadLetters,
  replayDeadLetters,
  purgeDeadLetters,
  type DeadLetter,
  type ListOptions as DeadLetterListOptions,
  type ReplayOptions,
  type ReplayProgress,
  type ReplayResult,
} from './broker/dead-letters.js';
export { DeadLetterHeader } from './worker/copies.js';
export { Logger, CRITICAL_LEVEL, type LogOptions } from './log/logger.js';
export {
  RabbitWorkerError,
  ConfigError,
  BrokerUnreachableError,
  PermanentError,
  MalformedMessageError,
  InvalidPayloadError,
  RequestFailedError,
  type PayloadIssue,
  ErrorCode,
  ExitCode,
} from './errors.js';
