import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exitCodeFor, ErrorCode, toErrorInfo } from '../../src/errors.js';

describe('errors', () => {
  it('describes what a callback threw when it was not an Error: never "[object Object]"', () => {
    assert.deepEqual(toErrorInfo({ code: 42 }), { name: 'NonError', message: '{ code: 42 } was thrown (not an Error)' });
    assert.deepEqual(toErrorInfo(undefined), { name: 'NonError', message: 'undefined was thrown (not an Error)' });
    assert.deepEqual(toErrorInfo(null), { name: 'NonError', message: 'null was thrown (not an Error)' });
    assert.deepEqual(toErrorInfo('boom'), { name: 'NonError', message: 'boom' });
    // error-like objects (an ErrorInfo that crossed a thread, a library's plain error) keep their name
    assert.deepEqual(toErrorInfo({ name: 'RangeError', message: 'too wide', code: 'E_WIDE' }), { name: 'RangeError', message: 'too wide', code: 'E_WIDE' });
    const info = toErrorInfo(Object.assign(new TypeError('bad'), { code: 'E_BAD' }));
    assert.equal(info.name, 'TypeError');
    assert.equal(info.code, 'E_BAD');
    assert.match(info.stack ?? '', /^TypeError: bad\n/);
  });

  it('maps codes to exit codes: refused credentials and vhosts are configuration errors (2), not an unreachable broker (3)', () => {
    assert.equal(exitCodeFor({ code: ErrorCode.BROKER_ACCESS_REFUSED }), 2);
    assert.equal(exitCodeFor({ code: ErrorCode.CONFIG_INVALID }), 2);
    assert.equal(exitCodeFor({ code: ErrorCode.BROKER_UNREACHABLE }), 3);
    assert.equal(exitCodeFor(new Error('x')), 1);
  });
});
