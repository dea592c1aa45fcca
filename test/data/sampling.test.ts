import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { RandomState } from '../../src/data/random.js';
import { framesToLoad, getTestIndices, getValIndices, sampleIndices } from '../../src/data/sampling.js';
import { fixtureCase, fixturePath } from '../helpers/fixtures.js';

interface SamplingCase {
  num_frames: number;
  num_segments: number;
  new_length: number;
  dense_sample: boolean;
  twice_sample: boolean;
  val_indices: number[];
  val_uses_numpy_rng: boolean;
  test_indices: number[];
}

test('val and test indices equal the original TSNDataSet on the whole fixture grid', () => {
  const c = fixtureCase('sampling');
  const fx = JSON.parse(readFileSync(fixturePath(c.files.indices as string), 'utf8')) as { cases: SamplingCase[] };
  assert.equal(fx.cases.length, c.num_entries);
  for (const k of fx.cases) {
    const opts = { numSegments: k.num_segments, newLength: k.new_length, denseSample: k.dense_sample, twiceSample: k.twice_sample };
    const what = JSON.stringify(opts) + ` num_frames=${k.num_frames}`;
    // NOTE: dense val on > 65 frames draws from numpy's global RNG right after np.random.seed(0); our RandomState(0)
    // is numpy's MT19937 with its randint, so even those cases match exactly
    assert.deepEqual(getValIndices(k.num_frames, opts, new RandomState(0)), k.val_indices, `val ${what}`);
    assert.deepEqual(getTestIndices(k.num_frames, opts), k.test_indices, `test ${what}`);
  }
});

test('dense val keeps the structure for any start: stride 64/T, wrapping modulo num_frames', () => {
  for (let seed = 0; seed < 20; seed++) {
    const idx = getValIndices(301, { numSegments: 8, denseSample: true }, new RandomState(seed));
    const start = idx[0] - 1;
    assert.ok(start >= 0 && start < 301 - 64, `start ${start}`);
    assert.deepEqual(idx, Array.from({ length: 8 }, (_, i) => ((start + 8 * i) % 301) + 1));
  }
});

test('training indices: one frame inside each segment, seeded, 1-based', () => {
  for (const n of [8, 9, 30, 100, 301]) {
    for (let seed = 0; seed < 10; seed++) {
      const idx = sampleIndices(n, { numSegments: 8 }, new RandomState(seed));
      assert.deepEqual(idx, sampleIndices(n, { numSegments: 8 }, new RandomState(seed)));
      const avg = Math.floor(n / 8);
      idx.forEach((v, i) => assert.ok(v >= i * avg + 1 && v <= (i + 1) * avg, `n=${n} seg ${i}: ${v}`));
    }
  }
  // fewer frames than segments but more than... : sorted random frames; too few: all ones
  const short = sampleIndices(5, { numSegments: 8 }, new RandomState(1));
  assert.deepEqual(short, new Array(8).fill(1));
  const mid = sampleIndices(12, { numSegments: 8, newLength: 5 }, new RandomState(3));
  assert.deepEqual(mid, [...mid].sort((a, b) => a - b));
  assert.ok(mid.every((v) => v >= 1 && v <= 8));
});

test('new_length expands each segment to consecutive frames, stopping at the last frame (TSNDataSet.get)', () => {
  assert.deepEqual(framesToLoad([1, 4], 5, 3), [1, 2, 3, 4, 5, 5]);
  const idx = getValIndices(40, { numSegments: 3, newLength: 5 });
  assert.deepEqual(idx, [7, 19, 31]); // tick = (40 - 5 + 1) / 3 = 12; int(6 + 12x) + 1
  assert.equal(framesToLoad(idx, 40, 5).length, 15);
});

test('dense test takes 10 clips evenly spread (np.linspace truncated)', () => {
  const idx = getTestIndices(301, { numSegments: 8, denseSample: true });
  assert.equal(idx.length, 80);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => idx[k * 8] - 1), [0, 26, 52, 79, 105, 131, 158, 184, 210, 237]);
});
