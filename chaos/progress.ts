import type { Fault } from './faults.js';
import type { ChaosPublisher } from './publisher.js';
import type { RecordTally } from './records.js';

/** The line printed every few seconds while the run goes on. */
export function progressLine(elapsedMs: number, messages: number, tally: RecordTally, publisher: ChaosPublisher, faults: Fault[], phase: string): string {
  const counts = new Map<string, number>();
  for (const f of faults) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
  const faultText = faults.length === 0 ? '0' : `${faults.length} (${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')})`;
  const pct = ((100 * tally.distinct) / messages).toFixed(1);
  return `[${String(Math.round(elapsedMs / 1000)).padStart(4)} s] ${phase}: handled ${tally.distinct}/${messages} (${pct}%), duplicates ${tally.repeats.length}, published ${publisher.confirmed} (${publisher.outstanding} unconfirmed), faults ${faultText}`;
}
