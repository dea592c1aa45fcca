import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mixSeed, RandomState } from '../../src/data/random.js';

// Values printed by numpy 1.24: np.random.seed(s); np.random.randint(...) / random_sample(...)
test('RandomState matches numpy legacy randint and random_sample draw for draw', () => {
  assert.deepEqual(new RandomState(0).randints(5, 0, 1000), [684, 559, 629, 192, 835]);
  assert.deepEqual(new RandomState(42).randints(8, 10), [6, 3, 7, 4, 6, 9, 2, 6]);
  const r = new RandomState(123);
  assert.deepEqual([r.random(), r.random(), r.random()], [0.6964691855978616, 0.28613933495037946, 0.2268514535642031]);
  const s = new RandomState(7);
  assert.deepEqual([s.randint(0, 2 ** 32 - 1), s.randint(0, 2 ** 32 - 1), s.randint(5, 6), s.randint(0, 236)], [327741615, 976413892, 5, 25]);
});

test('RandomState rejects bad seeds and empty ranges with the value in the message', () => {
  assert.throws(() => new RandomState(-1), /seed/);
  assert.throws(() => new RandomState(0).randint(3, 3), /\[3, 3\)/);
});

test('mixSeed separates streams and is stable', () => {
  assert.equal(mixSeed(1, 2, 3), mixSeed(1, 2, 3));
  const seen = new Set<number>();
  for (let e = 0; e < 4; e++) for (let i = 0; i < 100; i++) seen.add(mixSeed(7, e, i));
  assert.equal(seen.size, 400);
});
