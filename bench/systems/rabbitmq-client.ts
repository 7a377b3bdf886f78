/** rabbitmq-client: a consumer whose async handler resolving means ack (the library sends basic.ack). */
import { announce, closeAfterDone, isMain, peerSystem, readJob, Tally } from './protocol.js';

export const rabbitmqClientSystem = peerSystem('rabbitmq-client', 'rabbitmq-client', './rabbitmq-client.ts');

async function consume(): Promise<void> {
  const { Connection } = await import('rabbitmq-client');
  const job = readJob();
  const tally = new Tally(job);
  const rabbit = new Connection(job.amqpUrl);
  rabbit.on('error', (error) => console.error(error));
  let finished = false;
  const consumer = rabbit.createConsumer({ queue: job.queue, queueOptions: { passive: true }, qos: { prefetchCount: job.prefetch }, concurrency: job.prefetch }, async (message) => {
    tally.received(message.body as Buffer | string | object);
    // The ack goes out when this handler's promise resolves; `done` is announced right after that.
    setImmediate(() => {
      if (tally.acked() && !finished) {
        finished = true;
        closeAfterDone(() => consumer.close().then(() => rabbit.close()));
      }
    });
  });
  consumer.on('error', (error) => console.error(error));
  await new Promise<void>((resolve) => consumer.once('ready', () => resolve()));
  announce('consuming');
}

if (isMain(import.meta.url)) await consume();
