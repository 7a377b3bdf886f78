/**
 * A second worker type for the demo: "sends" an email by writing it to an outbox directory as a .eml file
 * named after the message id, so that a redelivered message overwrites the same file instead of sending
 * twice. An invalid address can never succeed: PermanentError sends it to `send-email.dlq` at once.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { PermanentError, WorkerTask, type MessageAdapter } from 'rabbit-worker';

const Email = z.object({ to: z.string(), subject: z.string().max(200), text: z.string() });
type Email = z.infer<typeof Email>;

export const outboxDir = (): string => process.env.OUTBOX_DIR ?? join(tmpdir(), 'rabbit-worker-demo', 'outbox');

export default class SendEmail extends WorkerTask {
  initialize(): void {
    super.initialize();
    this.setQueue('send-email');
    this.prefetch = 10;
    this.isolation = 'none'; // light callbacks; a crash is still caught, heap exhaustion is left to the broker
    this.logger.setMainLogger('send-email');
  }

  async callback(message: MessageAdapter<Email>): Promise<void> {
    const email = Email.parse(message.json());
    if (!/^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i.test(email.to)) throw new PermanentError(`invalid address "${email.to}"`);
    const id = message.messageId ?? `no-id-${Date.now()}`;
    await mkdir(outboxDir(), { recursive: true });
    await writeFile(join(outboxDir(), `${id}.eml`), `To: ${email.to}\nSubject: ${email.subject}\nMessage-ID: <${id}@rabbit-worker.demo>\n\n${email.text}\n`);
    this.logger.info('email sent', { to: email.to, messageId: id });
    message.ack();
  }
}
