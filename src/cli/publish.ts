import type { Command } from 'commander';
import { Publisher } from '../broker/publisher.js';
import { ConfigError } from '../errors.js';
import { nonNegativeInt, positiveInt, urlFlags, urlsFrom } from './shared-options.js';

export function registerPublish(program: Command): void {
  const command = program
    .command('publish')
    .description('publish one JSON message to a queue and wait for the broker to confirm it')
    .argument('<queue>', 'target queue (it must exist)')
    .argument('<json>', 'the message body, as JSON')
    .option('--message-id <id>', 'message id (default: a random UUID)')
    .option('--count <n>', 'publish the same body n times', '1')
    .option('--delay-ms <ms>', 'deliver after this many ms (through the shared delay levels; whole seconds, rounded up)')
    .option('--timeout <ms>', 'how long to wait for the broker when it is away', '30000');
  urlFlags(command).action(async (queue: string, json: string, flags: Record<string, unknown>) => {
    let payload: unknown;
    try {
      payload = JSON.parse(json);
    } catch (error) {
      throw new ConfigError(`<json> is not valid JSON: ${(error as Error).message}`);
    }
    const count = positiveInt(flags.count, '--count', 1);
    const publisher = new Publisher({
      url: urlsFrom(flags).join(','),
      publishTimeoutMs: positiveInt(flags.timeout, '--timeout', 30_000),
    });
    const delayMs = flags.delayMs === undefined ? undefined : nonNegativeInt(flags.delayMs, '--delay-ms');
    try {
      for (let i = 0; i < count; i++) {
        const messageId = await publisher.publish(queue, payload, {
          ...(typeof flags.messageId === 'string' && count === 1 ? { messageId: flags.messageId } : {}),
          ...(delayMs !== undefined ? { delayMs } : {}),
        });
        process.stdout.write(`${messageId}\n`);
      }
    } finally {
      await publisher.close();
    }
  });
}
