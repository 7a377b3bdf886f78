import { existsSync, readFileSync } from 'node:fs';

export interface Interruption {
  reason: string;
  at: number;
}

/** What the workers' own logs say happened to messages: how often each was interrupted, and why. */
export interface Interruptions {
  /** messageId → each interruption (from "callbacks interrupted (<reason>)" lines), in log order. */
  byMessage: Map<string, Interruption[]>;
  /** Interruption events per reason (one per isolate or process ending). */
  events: Map<string, number>;
}

/**
 * Reads the supervisor's log (JSON lines: its own and every worker's). A worker logs CRITICAL
 * "callbacks interrupted (<reason>)" with the ids of every message it runs shutdown() for: that is
 * how a duplicate or a dead letter is traced to an out-of-memory isolate, a stop timeout, and so on.
 */
export function readInterruptions(logFile: string): Interruptions {
  const byMessage = new Map<string, Interruption[]>();
  const events = new Map<string, number>();
  if (!existsSync(logFile)) return { byMessage, events };
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('callbacks interrupted')) continue;
    let entry: { msg?: unknown; reason?: unknown; messageIds?: unknown; time?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (typeof entry.msg !== 'string' || !entry.msg.startsWith('callbacks interrupted') || !Array.isArray(entry.messageIds)) continue;
    const reason = String(entry.reason ?? 'unknown');
    events.set(reason, (events.get(reason) ?? 0) + 1);
    const at = Number(entry.time);
    for (const id of entry.messageIds) {
      const list = byMessage.get(String(id)) ?? [];
      list.push({ reason, at });
      byMessage.set(String(id), list);
    }
  }
  return { byMessage, events };
}

/** `3× out-of-memory, 1× stop-timeout`. */
export function describeReasons(list: Interruption[] | undefined): string {
  const counts = new Map<string, number>();
  for (const { reason } of list ?? []) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  return [...counts].map(([reason, times]) => `${times}× ${reason}`).join(', ');
}
