import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { PayloadIssue } from '../errors.js';

/**
 * A payload schema: anything that implements Standard Schema v1 (zod ≥ 3.24, valibot ≥ 1, arktype ≥ 2, …).
 * rabbit-worker only calls `schema['~standard'].validate(value)`; it never depends on a library.
 */
export type PayloadSchema = StandardSchemaV1;

/** What a schema said of a value: its output (after the library's transforms and defaults), or the issues. */
export type PayloadCheck = { ok: true; value: unknown } | { ok: false; issues: PayloadIssue[] };

/** The room a description gets: below the 1 KiB cap of `x-rabbit-worker-reason`, so nothing is cut there. */
export const ISSUES_BUDGET = 1000;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `items[2].width`, `["odd key"]`, or '' for the value itself. */
export function issuePath(path: StandardSchemaV1.Issue['path']): string {
  let out = '';
  for (const segment of path ?? []) {
    const key = typeof segment === 'object' && segment !== null ? segment.key : segment;
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && IDENTIFIER.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${typeof key === 'string' ? JSON.stringify(key) : String(key)}]`;
  }
  return out;
}

function toIssues(issues: readonly StandardSchemaV1.Issue[]): PayloadIssue[] {
  return issues.map((issue) => ({ path: issuePath(issue.path), message: issue.message }));
}

function outcome(result: StandardSchemaV1.Result<unknown>): PayloadCheck {
  return result.issues === undefined ? { ok: true, value: result.value } : { ok: false, issues: toIssues(result.issues) };
}

/**
 * Validates `value` once. Synchronous when the library answers synchronously (zod, valibot and arktype do
 * for synchronous schemas), so that the hot path takes no extra turn; a Promise for async refinements.
 */
export function checkPayload(schema: PayloadSchema, value: unknown): PayloadCheck | Promise<PayloadCheck> {
  const result = schema['~standard'].validate(value);
  return result instanceof Promise ? result.then(outcome) : outcome(result);
}

/**
 * One line that names every failing path first (so that none is lost to the budget), then as many of the
 * library's messages as fit: `invalid payload at width, items[1]: width: Expected number; items[1]: Required`
 * (one issue: `invalid payload at width: Expected number`).
 */
export function describePayloadIssues(issues: readonly PayloadIssue[], budget = ISSUES_BUDGET): string {
  const paths = issues.map((issue) => issue.path || '(root)');
  let head = `invalid payload at ${[...new Set(paths)].join(', ')}`;
  if (head.length > budget) {
    // Not even the paths fit: as many as do, and how many are left.
    let shown = 'invalid payload at ';
    let count = 0;
    for (const path of new Set(paths)) {
      const more = ` … and ${paths.length - count} more`;
      if (shown.length + path.length + 2 + more.length > budget) return `${shown.replace(/, $/, '')}${more}`;
      shown += `${path}, `;
      count++;
    }
    head = shown.replace(/, $/, '');
  }
  // one issue: its path is in the head already (`invalid payload at width: Too small …`)
  if (issues.length === 1) {
    const line = `${head}: ${(issues[0] as PayloadIssue).message.replace(/\s+/g, ' ')}`;
    return line.length > budget ? `${line.slice(0, budget - 1)}…` : line;
  }
  let line = head;
  for (let i = 0; i < issues.length; i++) {
    const part = `${i === 0 ? ': ' : '; '}${paths[i] as string}: ${(issues[i] as PayloadIssue).message.replace(/\s+/g, ' ')}`;
    if (line.length + part.length > budget) return `${line}; …`;
    line += part;
  }
  return line;
}
