/** The drain job as a rabbit-worker user writes it: ack in an async callback. */
import { WorkerTask, type MessageAdapter } from 'rabbit-worker';

export default class DrainWorker extends WorkerTask {
  override initialize(): void {
    super.initialize();
    this.setQueue('bench-drain'); // the bench passes --queue
  }

  override async callback(message: MessageAdapter): Promise<void> {
    message.ack();
  }
}
