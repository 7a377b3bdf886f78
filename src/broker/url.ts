/** Default broker, as in DESIGN.md: a local RabbitMQ with the guest account. */
export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

/** The URLs to try, from `--url`, `AMQP_URL`, or the default; commas separate the nodes of a cluster. */
export function parseUrls(value: string | undefined): string[] {
  const raw = value ?? process.env.AMQP_URL ?? DEFAULT_AMQP_URL;
  const urls = raw.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  return urls.length > 0 ? urls : [DEFAULT_AMQP_URL];
}

/**
 * The URL with its password replaced by `***`, safe for logs and error messages. It parses the URL the
 * way amqplib does when it connects (WHATWG `URL`: the user info ends at the *last* `@`), so a password
 * containing `@` is hidden whole; a URL that does not parse loses everything between `//` and the last
 * `@` rather than risk showing part of a password.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/:\/\/.*@/, '://***@');
  }
  if (parsed.password === '') return url;
  // As the WHATWG parser does: the authority ends at the first / ? or #, and the user info at its last @.
  const start = url.indexOf('//') + 2;
  const end = url.slice(start).search(/[/?#]/);
  const authority = end === -1 ? url.slice(start) : url.slice(start, start + end);
  const at = authority.lastIndexOf('@');
  const user = authority.slice(0, authority.indexOf(':') === -1 ? at : Math.min(authority.indexOf(':'), at));
  return `${url.slice(0, start)}${user}:***${url.slice(start + at)}`;
}

/** True when the URL carries a password (then it must not appear on a command line or in a shared file). */
export function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return /\/\/[^/]*:[^/]*@/.test(url);
  }
}

/** `user "guest" on vhost "/" at 127.0.0.1:5672`: who a URL connects as, for error messages (no password). */
export function describeIdentity(url: string): string {
  try {
    const parsed = new URL(url);
    const vhost = parsed.pathname.length > 1 ? decodeURIComponent(parsed.pathname.slice(1)) : '/';
    const user = parsed.username === '' ? 'guest' : decodeURIComponent(parsed.username);
    return `user "${user}" on vhost "${vhost}" at ${parsed.host}`;
  } catch {
    return redactUrl(url);
  }
}
