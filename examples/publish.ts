/**
 * The application side: what an API or a cron does to hand work to the workers.
 *   node --import tsx examples/publish.ts [count]
 */
import { Publisher } from 'rabbit-worker';

const count = Number(process.argv[2] ?? 10);
const publisher = new Publisher(); // AMQP_URL, or the local broker

try {
  for (let i = 1; i <= count; i++) {
    await publisher.publish('resize-image', { imageId: `photo-${i}`, width: 160, height: 120 });
    await publisher.publish('send-email', { to: `user${i}@example.com`, subject: `Your photo ${i} is ready`, text: 'Thumbnail attached.' });
  }
  console.log(`published ${count} resize requests and ${count} emails`);
} finally {
  await publisher.close();
}
