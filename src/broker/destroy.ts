import type { ChannelModel } from 'amqplib';

/**
 * Ends a connection at once, without the close handshake: for a broker that does not answer (an alarm
 * stops it reading from a publishing connection, a dead node) when a bounded stop must go on. The broker
 * sees the socket close and requeues every delivery that was unacked on it. amqplib has no public call for
 * this; its ChannelModel keeps the socket at `connection.stream`.
 */
export function destroyConnection(model: ChannelModel): void {
  const stream = (model as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream;
  stream?.destroy?.();
}
