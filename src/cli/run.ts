import type { Command } from 'commander';
import { runWorker } from '../worker/worker-process.js';
import { RUN_FLAGS, overridesFromFlags } from '../worker/run-flags.js';
import { connectOptionFlags, nonNegativeInt, positiveInt, urlsFrom } from './shared-options.js';

const HELP: Record<keyof typeof RUN_FLAGS, string> = {
  queue: 'queue to consume (overrides setQueue)',
  ttl: 'seconds of process life, then drain and exit 0 (0 = unlimited)',
  prefetch: 'deliveries in flight',
  maxMessages: 'recycle after this many messages (0 = unlimited)',
  memoryLimitMb: 'heap of the callback isolate (MB); callbacks holding more heap + Buffers trigger recycling',
  maxAttempts: 'deliveries before a message is dead-lettered',
  stopTimeout: 'seconds in-flight callbacks get after SIGTERM',
  isolation: 'thread (out-of-memory guard) or none',
  queueType: 'quorum or classic',
  spareMemoryMultiplier: 'heap reserved for shutdown(), in units of 32 MB',
  retryDelayMs: 'first retry delay of a failed callback, ms (0 = retry at once)',
  retryBackoff: 'growth factor of the retry delay',
  retryMaxDelayMs: 'longest retry delay, ms',
  messageTimeout: 'seconds a callback may run before its signal aborts and the message is retried (0 = no limit)',
  consumerTimeout: "the broker's consumer_timeout in seconds (warning at 80 %)",
  threads: 'callback isolates in this process, each with its own heap limit (uses that many cores)',
  httpPort: 'serve GET /metrics, /healthz and /readyz of this process on this port, on every interface (0 = none)',
  metrics: 'on (default) or off: keep Prometheus metrics',
  maxPriority: "priorities 0..n on a classic queue (x-max-priority; needs --queue-type classic; 0 = none)",
};

export function registerRun(program: Command): void {
  const command = program
    .command('run')
    .description('run one worker process: the WorkerTask subclass that <file> exports by default')
    .argument('<file>', 'worker file, TypeScript or JavaScript');
  for (const [key, flag] of Object.entries(RUN_FLAGS)) command.option(`${flag} <value>`, HELP[key as keyof typeof RUN_FLAGS]);
  connectOptionFlags(command)
    .option('--name <name>', 'worker type name in logs (default: the file name)')
    .option('--ready-within <seconds>', 'exit 1 if not consuming this many seconds after start (for supervisord: startsecs then means consuming; 0 = no limit)');
  command.action(async (file: string, flags: Record<string, unknown>) => {
    const code = await runWorker({
      file,
      overrides: overridesFromFlags(flags),
      connect: { urls: urlsFrom(flags), attempts: positiveInt(flags.connectAttempts, '--connect-attempts', 5) },
      ...(typeof flags.name === 'string' ? { name: flags.name } : {}),
      readyWithinSeconds: flags.readyWithin === undefined ? 0 : nonNegativeInt(flags.readyWithin, '--ready-within'),
    });
    process.exitCode = code;
  });
}

