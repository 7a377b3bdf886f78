/**
 * The body of the leader token: the one message of the election queue, held unacked by the leader. It
 * carries, per schedule, the last settled tick (fired, or skipped by the policy), so that whoever leads
 * next knows what was done. Tokens only ever merge by taking the later tick of each schedule, so two
 * tokens (two supervisors that bootstrapped at once, a renewal cut short by a crash) collapse into one
 * without losing anything.
 */

/** Settled tick (ms since the epoch) per schedule name. */
export type SettledTicks = Record<string, number>;

/** What a token says. */
export interface TokenBody {
  /** Format version. */
  v: 1;
  group: string;
  last: SettledTicks;
  /** Who wrote it (host and pid), for an operator reading the queue. */
  by: string;
  /** When it was written (ISO). */
  at: string;
}

/** A token's body, as JSON with ISO ticks (readable in the management UI). */
export function encodeToken(body: TokenBody): Buffer {
  const last = Object.fromEntries(Object.entries(body.last).map(([name, tick]) => [name, new Date(tick).toISOString()]));
  return Buffer.from(JSON.stringify({ ...body, last }));
}

/**
 * Reads a token; an unreadable one (another version, a stray message) yields empty state rather than an
 * error: the election must go on, and the worst outcome is a tick fired twice with the same message id.
 */
export function decodeToken(content: Buffer): SettledTicks {
  try {
    const parsed = JSON.parse(content.toString('utf8')) as { v?: unknown; last?: unknown };
    if (parsed.v !== 1 || parsed.last === null || typeof parsed.last !== 'object') return {};
    const last: SettledTicks = {};
    for (const [name, value] of Object.entries(parsed.last as Record<string, unknown>)) {
      const tick = typeof value === 'string' ? Date.parse(value) : NaN;
      if (Number.isFinite(tick)) last[name] = tick;
    }
    return last;
  } catch {
    return {};
  }
}

/** The later tick of each schedule: what two tokens know together. */
export function mergeTicks(a: SettledTicks, b: SettledTicks): SettledTicks {
  const out: SettledTicks = { ...a };
  for (const [name, tick] of Object.entries(b)) out[name] = Math.max(out[name] ?? -Infinity, tick);
  return out;
}
