import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argmax, softmax, topK } from '../../src/util/scores.js';

test('argmax and topK: best first, ties to the lower index (as np.argmax and a stable torch.topk)', () => {
  const s = [0.1, 0.7, 0.2, 0.7, -1];
  assert.equal(argmax(s), 1);
  assert.deepEqual(topK(s, 3), [{ index: 1, score: 0.7 }, { index: 3, score: 0.7 }, { index: 2, score: 0.2 }]);
  assert.deepEqual(topK(s, 9).map((c) => c.index), [1, 3, 2, 0, 4]);
  assert.deepEqual(topK(s, 0), []);
});

test('softmax subtracts the max (no overflow), sums to 1, and can write in place', () => {
  const logits = Float64Array.from([1000, 1001, 999]);
  const p = softmax(logits);
  const e = [Math.exp(-1), 1, Math.exp(-2)];
  const z = e[0] + e[1] + e[2];
  // a few roundings per element of values below 1
  p.forEach((v, i) => assert.ok(Math.abs(v - e[i] / z) <= 8 * Number.EPSILON, `${v} vs ${e[i] / z}`));
  assert.notEqual(p, logits);
  assert.equal(softmax(logits, logits), logits);
  assert.deepEqual([...logits], [...p]);
});
