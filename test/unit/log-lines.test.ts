import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromErrorInfo, toErrorInfo } from '../../src/errors.js';
import { serializeError } from '../../src/log/logger.js';
import { mergeMixin, messageContext, messageMixin } from '../../src/log/message-context.js';

describe('log lines', () => {
  it('errors keep their type: a real Error, one rebuilt from ErrorInfo, and ErrorInfo itself', () => {
    const error = Object.assign(new RangeError('too wide'), { code: 'E_WIDE' });
    const direct = serializeError(error) as Record<string, unknown>;
    assert.equal(direct.type, 'RangeError');
    assert.equal(direct.message, 'too wide');
    assert.equal(direct.code, 'E_WIDE');
    assert.match(String(direct.stack), /^RangeError: too wide\n/);
    const info = toErrorInfo(error);
    assert.deepEqual(serializeError(info), { type: 'RangeError', message: 'too wide', stack: info.stack, code: 'E_WIDE' });
    assert.equal((serializeError(fromErrorInfo(info)) as Record<string, unknown>).type, 'RangeError');
    assert.equal(serializeError('plain text'), 'plain text');
  });

  it("inside a callback the mixin names the message; the line's own fields win, each key once", () => {
    assert.deepEqual(mergeMixin({ a: 1 }, messageMixin()), { a: 1 }, 'outside a callback: the line as it is');
    messageContext.run({ messageId: 'm1', attempt: 2 }, () => {
      assert.deepEqual(mergeMixin({ a: 1 }, messageMixin()), { messageId: 'm1', attempt: 2, a: 1 });
      assert.deepEqual(mergeMixin({ messageId: 'other' }, messageMixin()), { messageId: 'other', attempt: 2 });
    });
    messageContext.run({ messageId: 'm2', attempt: 1, traceId: 't', spanId: 's' }, () => {
      assert.deepEqual(messageMixin(), { messageId: 'm2', attempt: 1, traceId: 't', spanId: 's' });
    });
  });
});
