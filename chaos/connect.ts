import amqp, { type ChannelModel } from 'amqplib';

/**
 * A connection to the first node of `url` (comma-separated, as AMQP_URL) that answers, trying them from
 * `start`: the chaos run's own clients (publisher, dead-letter reader) fail over between the nodes of a
 * cluster as the framework does. Returns the index of the node it reached.
 */
export async function connectAny(url: string, options: { name: string; heartbeat?: number; start?: number }): Promise<{ connection: ChannelModel; index: number }> {
  const urls = url.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  let last: unknown;
  for (let step = 0; step < urls.length; step++) {
    const index = ((options.start ?? 0) + step) % urls.length;
    const target = urls[index] as string;
    try {
      const withHeartbeat = options.heartbeat === undefined ? target : `${target}${target.includes('?') ? '&' : '?'}heartbeat=${options.heartbeat}`;
      const connection = await amqp.connect(withHeartbeat, { clientProperties: { connection_name: options.name }, timeout: 5000 });
      return { connection, index };
    } catch (error) {
      last = error;
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}
