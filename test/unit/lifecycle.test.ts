import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Lifecycle } from '../../src/lifecycle.js';

type S = 'starting' | 'running' | 'draining' | 'stopped';
const TABLE = { starting: ['running', 'draining'], running: ['draining'], draining: ['stopped'], stopped: [] } as const;

describe('Lifecycle', () => {
  it('moves along the table, logs each transition, and refuses the rest without changing state', () => {
    const lines: string[] = [];
    const changes: string[] = [];
    const log = { debug: (msg: string) => lines.push(msg), warn: (msg: string) => lines.push(msg) };
    const state = new Lifecycle<S>('worker', 'starting', TABLE, { log, onChange: (from, to) => changes.push(`${from}>${to}`) });
    assert.equal(state.to('draining', 'SIGTERM'), true);
    // the start-up race of defect 8.7: "consuming" after "SIGTERM received" must not overwrite draining
    assert.equal(state.to('running', 'consuming'), false);
    assert.equal(state.state, 'draining');
    assert.ok(state.is('draining', 'stopped'));
    assert.equal(state.can('stopped'), true);
    assert.equal(state.to('stopped', 'closed'), true);
    assert.equal(state.to('running', 'late'), false);
    assert.deepEqual(changes, ['starting>draining', 'draining>stopped']);
    assert.deepEqual(lines, [
      'worker: starting → draining (SIGTERM)',
      'worker: draining → running refused (consuming)',
      'worker: draining → stopped (closed)',
      'worker: stopped → running refused (late)',
    ]);
  });
});
