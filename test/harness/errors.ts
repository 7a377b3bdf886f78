/**
 * The harness's own error catalogue. It lives beside the harness rather than in `src/errors.ts`: these
 * are failures of the test machinery (a node that would not start, a port taken), never something
 * rabbit-worker raises, and `src/` must not grow codes only tests use. Same habit as `src/`: callers
 * branch on `code`, never on message text.
 */
export const HarnessErrorCode = {
  /** An option of startNode/startCluster is malformed; the message names the field. */
  OPTION_INVALID: 'HARNESS_OPTION_INVALID',
  /** A port the node needs is already bound on 127.0.0.1. */
  PORT_BUSY: 'HARNESS_PORT_BUSY',
  /** A node of that name is already registered with epmd (a leftover run, or the system node). */
  NODE_NAME_TAKEN: 'HARNESS_NODE_NAME_TAKEN',
  /** The node did not come up in time, or its VM exited; the message carries its log tail. */
  NODE_START_FAILED: 'HARNESS_NODE_START_FAILED',
  /** A rabbitmqctl / rabbitmq-queues command failed or timed out; the message carries its output. */
  CLI_FAILED: 'HARNESS_CLI_FAILED',
  /** A state we asked for (an alarm, a running cluster, a killed VM gone) was not reached in time. */
  STATE_TIMEOUT: 'HARNESS_STATE_TIMEOUT',
  /** What was asked about does not exist: a running VM of the node. */
  NOT_FOUND: 'HARNESS_NOT_FOUND',
  /** The cluster could not be formed; the nodes already started were stopped. */
  CLUSTER_FAILED: 'HARNESS_CLUSTER_FAILED',
} as const;
export type HarnessErrorCode = (typeof HarnessErrorCode)[keyof typeof HarnessErrorCode];

/** Every error the harness throws on purpose. */
export class HarnessError extends Error {
  readonly code: HarnessErrorCode;
  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HarnessError';
    this.code = code;
  }
}
