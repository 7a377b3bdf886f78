/** Default broker, as in DESIGN.md: a local RabbitMQ with the guest account. */
export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

/** The URLs to try, from `--url`, `AMQP_URL`, or the default; commas separate the nodes of a cluster. */
export function parseUrls(value: string | undefined): string[] {
  const raw = value ?? process.env.AMQP_URL ?? DEFAULT_AMQP_URL;
  const urls = raw.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  return urls.length > 0 ? urls : [DEFAULT_AMQP_URL];
}

/** The URL with its password replaced by `***`, safe for logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(amqps?:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}
