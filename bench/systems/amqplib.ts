/**
 * The baseline: the same job written directly with amqplib, one ack per message, the way most hand-written
 * consumers do it. The callback is async, like a rabbit-worker callback, and acks in its body.
 */
import { announce, closeAfterDone, isMain, peerSystem, readJob, Tally } from './protocol.js';

export const amqplibSystem = peerSystem('amqplib', 'raw amqplib (1 ack/msg)', './amqplib.ts', { latency: true });
/** The same consumer as plain JavaScript, without tsx's loader: a stricter reference for start-up and idle RSS (cost section only). */
export const amqplibPlainSystem = peerSystem('amqplib-js', 'raw amqplib as plain JavaScript (no tsx)', './amqplib.ts', { plain: true });

async function consume(): Promise<void> {
  const { default: amqp } = await import('amqplib');
  const job = readJob();
  const tally = new Tally(job);
  const connection = await amqp.connect(job.amqpUrl);
  const channel = await connection.createChannel();
  await channel.prefetch(job.prefetch);
  await channel.consume(job.queue, (message) => {
    if (message === null) return;
    tally.received(message.content);
    channel.ack(message);
    if (tally.acked()) closeAfterDone(() => channel.close().then(() => connection.close()));
  });
  announce('consuming');
}

if (isMain(import.meta.url)) await consume();
