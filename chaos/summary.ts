import type { DeadLetterReader } from './dead-letters.js';
import type { Fault, FaultKind } from './faults.js';
import { numberId, typeOfNumber, type ChaosType } from './plan.js';
import type { RecordTally } from './records.js';
import type { Recovery } from './recovery.js';
import { describeReasons, type Interruptions } from './worker-log.js';

export interface SummaryInput {
  messages: number;
  poison: number;
  /** Numbers the broker confirmed. */
  confirmed: Uint8Array;
  /** Message ids the publisher had to send again. */
  resent: Set<string>;
  tally: RecordTally;
  deadLetters: DeadLetterReader;
  faults: Fault[];
  recoveries: Recovery[];
  types: ChaosType[];
  /** Messages left in each work queue after the supervisor stopped (undefined if unknown). */
  leftInQueues: Map<string, number> | undefined;
  /** From the workers' logs: which messages were interrupted, when and why. */
  interruptions: Interruptions;
  startedAt: number;
}

export interface Summary {
  lines: string[];
  lost: number;
}

const plus = (fault: Fault, t0: number): string => `+${((fault.startedAt - t0) / 1000).toFixed(1)} s`;

/**
 * Why a number was handled again, looking between its previous handling and this one: first what the
 * worker itself logged (its callbacks interrupted: out-of-memory of an isolate that also ran a poison
 * message, a stop timeout…), then the harness's faults (a SIGKILL, closed connections, a broker restart:
 * the ack never reached the broker), then a publisher resend (the message was in its queue twice).
 */
function explainRepeats(input: SummaryInput): Map<string, number> {
  const causes = new Map<string, number>();
  const faults = [...input.faults].filter((f) => f.kind !== 'poison').sort((a, b) => a.startedAt - b.startedAt);
  const previous = new Map<number, number>();
  for (const repeat of [...input.tally.repeats].sort((a, b) => a.at - b.at)) {
    const since = previous.get(repeat.n) ?? (input.tally.firstAt[repeat.n] as number);
    previous.set(repeat.n, repeat.at);
    // a record precedes its ack by a few ms: an interruption or fault just after it explains the repeat
    const interrupted = input.interruptions.byMessage.get(numberId(repeat.n))?.find((i) => i.at >= since - 100 && i.at <= repeat.at);
    const fault = faults.find((f) => f.startedAt >= since - 100 && f.startedAt <= repeat.at);
    const cause =
      interrupted !== undefined
        ? `callbacks interrupted (${interrupted.reason})`
        : fault !== undefined
          ? KIND_NAMES[fault.kind]
          : input.resent.has(numberId(repeat.n))
            ? 'publisher resend'
            : 'no fault in between';
    causes.set(cause, (causes.get(cause) ?? 0) + 1);
  }
  return causes;
}

const KIND_NAMES: Record<FaultKind, string> = {
  kill: 'SIGKILL',
  poison: 'poison message',
  close: 'close_all_connections',
  restart: 'broker restart',
  'node-kill': 'node VM killed',
  alarm: 'memory alarm',
  'delete-dlq': 'deleted .dlq',
};

/** The printed result: one line per figure, then the details that explain them. */
export function summarize(input: SummaryInput): Summary {
  const { tally, deadLetters, messages } = input;
  const lines: string[] = [];
  let published = 0;
  for (let n = 0; n < messages; n++) if (input.confirmed[n] === 1) published += 1;
  const resentNumbers = [...input.resent].filter((id) => id.startsWith('n-')).length;
  lines.push(`published: ${published} (+ ${input.poison} poison${resentNumbers > 0 ? `; ${resentNumbers} sent again after a publisher reconnect` : ''})`);
  lines.push(`handled: ${tally.distinct}`);

  const lostNumbers: number[] = [];
  for (let n = 0; n < messages; n++) if (input.confirmed[n] === 1 && tally.counts[n] === 0 && !deadLetters.numbered.has(n)) lostNumbers.push(n);
  const lostPoison: number[] = [];
  for (let k = 0; k < input.poison; k++) if (!deadLetters.poison.has(k)) lostPoison.push(k);
  const lost = lostNumbers.length + lostPoison.length;
  lines.push(`lost: ${lost}${lostPoison.length > 0 ? ` (${lostNumbers.length} numbered, ${lostPoison.length} poison)` : ''}`);

  const extra = tally.repeats.length;
  const numbersTwice = new Set(tally.repeats.map((r) => r.n)).size;
  const causes = [...explainRepeats(input)].sort((a, b) => b[1] - a[1]).map(([cause, count]) => `${count} ${cause}`);
  lines.push(`duplicates: ${extra}${extra > 0 ? ` (extra handlings of ${numbersTwice} numbers: ${causes.join(', ')})` : ''}`);

  const poisonCopies = [...deadLetters.poison.values()].reduce((sum, d) => sum + d.copies - 1, 0);
  const dead = deadLetters.poison.size + deadLetters.numbered.size + deadLetters.unknown.length;
  lines.push(`dead-lettered: ${dead} (${deadLetters.poison.size} of ${input.poison} poison${deadLetters.numbered.size > 0 ? `, ${deadLetters.numbered.size} NOT poison` : ''}${poisonCopies > 0 ? `; ${poisonCopies} extra copies` : ''})`);
  lines.push(...describeInnocentDeadLetters(input));
  for (const d of deadLetters.unknown.slice(0, 10)) lines.push(`  unknown body in ${d.queue}.dlq: ${d.body}: ${d.reason}`);

  const worst = input.recoveries.filter((r) => r.measured).reduce<Recovery | undefined>((w, r) => (w === undefined || r.ms > w.ms ? r : w), undefined);
  lines.push(
    worst === undefined
      ? 'worst recovery: - (no fault)'
      : `worst recovery: ${Math.round(worst.ms)} ms${worst.open ? '+ (still silent when the next fault began)' : ''} (${worst.type} after the ${worst.fault.kind} at ${plus(worst.fault, input.startedAt)}: ${worst.fault.detail})`,
  );

  if (lostNumbers.length > 0) lines.push(...describeLost(lostNumbers, input));
  if (lostPoison.length > 0) lines.push(`  poison never dead-lettered: ${lostPoison.map((k) => `poison-${k}`).join(', ')}`);
  return { lines, lost };
}

/**
 * Numbered messages found in a dead-letter queue: grouped by queue and by what the workers logged about
 * them (how often their callbacks were interrupted, and why), then the first few one by one.
 */
function describeInnocentDeadLetters(input: SummaryInput): string[] {
  const { deadLetters, tally, interruptions } = input;
  const groups = new Map<string, number>();
  for (const [n, d] of deadLetters.numbered) {
    const handled = tally.counts[n] ?? 0;
    const key = `${d.queue}.dlq: ${describeReasons(interruptions.byMessage.get(numberId(n))) || 'never interrupted'}; ${handled > 0 ? 'callback had completed before' : 'never completed'}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  const out = [...groups].sort((a, b) => b[1] - a[1]).map(([key, count]) => `  not poison, ${count} in ${key}`);
  for (const [n, d] of [...deadLetters.numbered].slice(0, 12)) {
    const handled = tally.counts[n] ?? 0;
    out.push(`    ${numberId(n)} in ${d.queue}.dlq, attempt ${d.attempts}, handled ${handled}× before, interrupted ${describeReasons(interruptions.byMessage.get(numberId(n))) || 'never'}: "${d.reason}"`);
  }
  if (deadLetters.numbered.size > 12) out.push(`    … and ${deadLetters.numbered.size - 12} more`);
  return out;
}

function describeLost(lost: number[], input: SummaryInput): string[] {
  const out: string[] = [];
  const byQueue = new Map<string, number[]>();
  for (const n of lost) {
    const queue = typeOfNumber(input.types, n).queue;
    byQueue.set(queue, [...(byQueue.get(queue) ?? []), n]);
  }
  for (const [queue, numbers] of byQueue) {
    const left = input.leftInQueues?.get(queue);
    out.push(`  lost in ${queue}: ${numbers.length} (${numbers.slice(0, 30).join(' ')}${numbers.length > 30 ? ' …' : ''})${left !== undefined ? `; the queue still holds ${left} message(s)` : ''}`);
  }
  return out;
}
