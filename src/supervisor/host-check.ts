/**
 * DNS rebinding: a web page on evil.example can make its own name resolve to 127.0.0.1 and then talk to
 * a loopback endpoint "same-origin". Its requests still say `Host: evil.example:<port>`, so an endpoint
 * that answers only the names it is known by is out of reach. Allowed: the bound address, `localhost`,
 * `127.0.0.1` and `[::1]` (all with the bound port, or without a port when it is 80), and the names of `control.allowedHosts`
 * (with any port: a reverse proxy in front may use its own).
 */
export function hostAllowed(header: string | undefined, bound: { host: string; port: number }, allowedHosts: readonly string[]): boolean {
  if (header === undefined || header === '') return false;
  const parsed = splitHost(header.trim().toLowerCase());
  if (parsed === undefined) return false;
  const { name, port } = parsed;
  if (allowedHosts.some((h) => h.toLowerCase() === name || h.toLowerCase() === header.toLowerCase())) return true;
  // loopback literals cannot be rebound: a page at http://127.0.0.1:<port> is this endpoint's own origin
  const local = new Set(['localhost', '127.0.0.1', '::1', bound.host.toLowerCase().replace(/^\[|\]$/g, '')]);
  if (!local.has(name)) return false;
  return port === undefined ? bound.port === 80 : port === bound.port;
}

/** `name[:port]` or `[v6]:port` → its parts; undefined when malformed. */
function splitHost(host: string): { name: string; port: number | undefined } | undefined {
  const v6 = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(host);
  if (v6 !== null) return { name: v6[1] as string, port: v6[2] === undefined ? undefined : Number(v6[2]) };
  const plain = /^([a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(host);
  if (plain === null) return undefined;
  return { name: plain[1] as string, port: plain[2] === undefined ? undefined : Number(plain[2]) };
}
