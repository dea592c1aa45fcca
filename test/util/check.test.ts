import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { oneOf, positiveInt } from '../../src/util/check.js';

const MODES = Object.freeze({ bidirectional: 'bidirectional', online: 'online' } as const);

test('oneOf returns an own key of the table and names the set otherwise, inherited keys included', () => {
  assert.equal(oneOf('shift mode', 'online', MODES), 'online');
  for (const bad of ['sideways', 'toString', 'constructor', 3, undefined]) {
    assert.throws(
      () => oneOf('shift mode', bad, MODES),
      (e: unknown) => e instanceof UsageError && e.message === `Unsupported shift mode: ${String(bad)}. Must be one of [bidirectional, online]`,
      String(bad),
    );
  }
  assert.equal(UsageError.unsupported('dataset', 'x', ['a', 'b'], 'or a folder').message, 'Unsupported dataset: x. Must be one of [a, b] or a folder');
});

test('positiveInt accepts integers from 1 and names the option otherwise', () => {
  assert.equal(positiveInt('num_segments', 8), 8);
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
    assert.throws(() => positiveInt('num_segments', bad), (e: unknown) => e instanceof UsageError && /expected a positive integer for num_segments/.test(e.message), String(bad));
  }
});
