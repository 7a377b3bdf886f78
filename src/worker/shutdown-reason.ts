/**
 * Why `shutdown()` runs for an in-flight message:
 * - `stop-timeout`: SIGTERM/SIGINT, and the callback did not finish within `stopTimeout`;
 * - `uncaught-exception` / `unhandled-rejection`: user code threw where nothing caught it;
 * - `exit`: user code called `process.exit()`;
 * - `out-of-memory`: the callback's isolate exhausted its heap (`memoryLimitMb`);
 * - `recycled`: the callback's isolate was replaced because *another* callback in it ignored its aborted
 *   signal past `messageTimeout`; this message is requeued without counting the attempt.
 */
export type ShutdownReason = 'stop-timeout' | 'uncaught-exception' | 'unhandled-rejection' | 'exit' | 'out-of-memory' | 'recycled';
