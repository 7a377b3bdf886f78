import { delayLevelNames } from './delay-topology.js';
import type { QueueProbe } from './queue-probe.js';

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
export async function countDelayed(probe: QueueProbe): Promise<DelayCensus> {
  const census: DelayCensus = { total: 0, byLevel: {}, declared: false };
  for (const name of delayLevelNames()) {
    const found = await probe.check(name);
    if (found === undefined) continue;
    census.declared = true;
    census.total += found.messageCount;
    if (found.messageCount > 0) census.byLevel[name] = found.messageCount;
  }
  return census;
}
