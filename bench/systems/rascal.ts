/** rascal (built on amqplib), with its default config: one subscription, ackOrNack() per message. */
import { announce, closeAfterDone, isMain, peerSystem, readJob, Tally } from './protocol.js';

export const rascalSystem = peerSystem('rascal', 'rascal', './rascal.ts');

/** The part of rascal's API used here (its published typings lag far behind rascal 21). */
interface RascalSubscription {
  on(event: 'message', listener: (message: unknown, content: unknown, ackOrNack: () => void) => void): this;
  on(event: 'error' | 'invalid_content', listener: (error: Error) => void): this;
}
interface RascalBroker {
  subscribe(name: string): Promise<RascalSubscription>;
  shutdown(): Promise<void>;
}
interface Rascal {
  BrokerAsPromised: { create(config: unknown): Promise<RascalBroker> };
  withDefaultConfig(config: unknown): unknown;
}

async function consume(): Promise<void> {
  const rascal = (await import('rascal')) as unknown as Rascal & { default?: Rascal };
  const { BrokerAsPromised, withDefaultConfig } = rascal.default ?? rascal;
  const job = readJob();
  const tally = new Tally(job);
  const config = withDefaultConfig({
    vhosts: {
      '/': {
        connection: { url: job.amqpUrl },
        // The driver declared the queue with rabbit-worker's arguments; rascal must not redeclare it.
        queues: { [job.queue]: { assert: false, check: true } },
        subscriptions: { drain: { queue: job.queue, prefetch: job.prefetch } },
      },
    },
  });
  const broker = await BrokerAsPromised.create(config);
  const subscription = await broker.subscribe('drain');
  subscription.on('error', (error) => console.error(error));
  subscription.on('invalid_content', (error) => console.error(error));
  subscription.on('message', (_message, content, ackOrNack) => {
    void (async () => {
      tally.received(content as object);
      ackOrNack();
      if (tally.acked()) closeAfterDone(() => broker.shutdown());
    })();
  });
  announce('consuming');
}

if (isMain(import.meta.url)) await consume();
