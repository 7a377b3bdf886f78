import type { ChannelModel } from 'amqplib';
import { delayLevelNames } from './delay-topology.js';

/** How many messages wait in the shared delay levels. */
export interface DelayCensus {
  /** Messages ready in every level together: delayed publishes and retries of every queue of the vhost. */
  total: number;
  /** Per level name (`rabbit-worker.delay.NN`), only the levels that hold messages. */
  byLevel: Record<string, number>;
  /** False when the levels were never declared on this vhost (nothing was ever delayed). */
  declared: boolean;
}

/**
 * Counts the messages waiting in the delay levels, with a passive check of each level (a level that does
 * not exist counts 0 and is never created). The levels are shared by every work queue of the vhost and a
 * message in them carries its destination only in its routing key, so the count is global: it cannot say
 * which queue a delayed message is for without consuming it.
 */
export async function countDelayed(connection: ChannelModel): Promise<DelayCensus> {
  const census: DelayCensus = { total: 0, byLevel: {}, declared: false };
  let channel = await connection.createChannel();
  channel.on('error', () => {});
  try {
    for (const name of delayLevelNames()) {
      try {
        const { messageCount } = await channel.checkQueue(name);
        census.declared = true;
        census.total += messageCount;
        if (messageCount > 0) census.byLevel[name] = messageCount;
      } catch {
        // a failed passive check closes the channel: the level does not exist
        channel = await connection.createChannel();
        channel.on('error', () => {});
      }
    }
  } finally {
    await channel.close().catch(() => {});
  }
  return census;
}
