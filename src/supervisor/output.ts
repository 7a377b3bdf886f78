import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** How the supervisor writes its children's lines: JSON lines for machines, one readable line for people. */
export type OutputFormat = 'json' | 'pretty';

export function outputFormat(): OutputFormat {
  const env = process.env.LOG_FORMAT;
  if (env === 'json' || env === 'pretty') return env;
  return process.stdout.isTTY ? 'pretty' : 'json';
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 55: 'critical', 60: 'fatal' };
/** Fields that the pretty form leaves out because the prefix or the message already says them. */
const QUIET_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'proc', 'worker', 'queue', 'logger']);

/**
 * Tags one line of a child's output with the child's name (`resize-image_01`).
 * JSON: a JSON log line gets a `proc` field; any other line becomes a JSON line with `msg` and `stream`.
 * Pretty: `resize-image_01 | INFO  consuming resize-image {prefetch: 10}`.
 */
export function tagLine(line: string, proc: string, stream: 'stdout' | 'stderr', format: OutputFormat): string {
  let parsed: Record<string, unknown> | undefined;
  if (line.startsWith('{')) {
    try {
      const value = JSON.parse(line) as unknown;
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) parsed = value as Record<string, unknown>;
    } catch {
      parsed = undefined;
    }
  }
  if (format === 'json') {
    if (parsed !== undefined) return JSON.stringify({ proc, ...parsed });
    return JSON.stringify({ level: stream === 'stderr' ? 'warn' : 'info', time: Date.now(), proc, stream, msg: line });
  }
  if (parsed === undefined) return `${proc} | ${line}`;
  const level = typeof parsed.level === 'number' ? (LEVEL_NAMES[parsed.level] ?? String(parsed.level)) : String(parsed.level ?? 'info');
  const extra = Object.entries(parsed).filter(([key]) => !QUIET_FIELDS.has(key));
  const fields = extra.length > 0 ? ` ${JSON.stringify(Object.fromEntries(extra))}` : '';
  return `${proc} | ${level.toUpperCase().padEnd(8)} ${String(parsed.msg ?? '')}${fields}`;
}

/**
 * Reads `stream` line by line, writes each line tagged, and keeps the last `tail` lines of stderr for the
 * CRITICAL report of an abnormal end (heap exhaustion messages come out there).
 */
export function pipeTagged(stream: Readable, proc: string, kind: 'stdout' | 'stderr', format: OutputFormat, tail: string[], write: (line: string) => void): void {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.length === 0) return;
    if (kind === 'stderr') {
      tail.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
      if (tail.length > 10) tail.shift();
    }
    write(tagLine(line, proc, kind, format));
  });
}
