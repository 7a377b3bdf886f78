import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type } from 'arktype';
import * as v from 'valibot';
import { z } from 'zod';
import { checkPayload, describePayloadIssues, issuePath } from '../../src/broker/payload-schema.js';

describe('payload schemas (Standard Schema)', () => {
  const bad = { id: 'x', items: [{ width: 1 }, { width: 'wide' }] };

  it('zod, valibot and arktype give the same failing paths, synchronously', () => {
    const schemas = {
      zod: z.object({ id: z.number(), items: z.array(z.object({ width: z.number() })) }),
      valibot: v.object({ id: v.number(), items: v.array(v.object({ width: v.number() })) }),
      arktype: type({ id: 'number', items: type({ width: 'number' }).array() }),
    };
    for (const [library, schema] of Object.entries(schemas)) {
      const result = checkPayload(schema, bad);
      assert.ok(!(result instanceof Promise), `${library} answered synchronously`);
      assert.equal(result.ok, false, library);
      if (!result.ok) assert.deepEqual(result.issues.map((i) => i.path).sort(), ['id', 'items[1].width'], library);
      const good = checkPayload(schema, { id: 1, items: [] });
      assert.deepEqual(good, { ok: true, value: { id: 1, items: [] } }, library);
    }
  });

  it('an async refinement answers with a promise; transforms and defaults give the output', async () => {
    const schema = z.object({ code: z.string().refine(async (c) => c.startsWith('ok')), n: z.coerce.number().default(7) });
    const result = checkPayload(schema, { code: 'ok' });
    assert.ok(result instanceof Promise);
    assert.deepEqual(await result, { ok: true, value: { code: 'ok', n: 7 } });
  });

  it('paths: indexes in brackets, odd keys quoted, the value itself as (root)', () => {
    assert.equal(issuePath(['items', 2, 'width']), 'items[2].width');
    assert.equal(issuePath([{ key: 'a b' }, 0]), '["a b"][0]');
    assert.equal(issuePath(undefined), '');
    assert.equal(describePayloadIssues([{ path: '', message: 'Expected object' }]), 'invalid payload at (root): Expected object');
  });

  it('every path is named before any message, within the budget', () => {
    const issues = Array.from({ length: 40 }, (_, i) => ({ path: `items[${i}].width`, message: 'Invalid input: expected number, received string' }));
    const line = describePayloadIssues(issues, 1000);
    assert.ok(line.length <= 1003, String(line.length));
    assert.match(line, /^invalid payload at items\[0\]\.width, .*items\[39\]\.width: items\[0\]\.width: Invalid input/);
    assert.match(line, /; …$/);
    const many = Array.from({ length: 500 }, (_, i) => ({ path: `tags[${i}]`, message: 'bad' }));
    const cut = describePayloadIssues(many, 1000);
    assert.ok(cut.length <= 1000, String(cut.length));
    assert.match(cut, /^invalid payload at tags\[0\], tags\[1\], .* … and \d+ more$/);
  });
});
