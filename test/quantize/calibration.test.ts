import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { HISTOGRAM_BINS, TensorStats, quantParams, rangeFor } from '../../src/quantize/index.js';
import { makeRng } from '../helpers/rng.js';

test('min/max is the exact range over every batch', () => {
  const s = new TensorStats(false);
  s.add(Float32Array.of(0.5, -2, 1));
  s.add(Float32Array.of(3, 0));
  assert.deepEqual(rangeFor(s, 'minmax'), { min: -2, max: 3 });
  assert.equal(s.count, 5);
  assert.throws(() => rangeFor(s, 'percentile'), /needs statistics gathered with a histogram/);
});

test('the histogram widens by merging bins: the same counts as binning everything at the final width', () => {
  const rng = makeRng(11);
  const batches = [0.1, 1, 7, 0.5, 40].map((scale) => Float32Array.from({ length: 5000 }, () => rng.normal() * scale));
  const s = new TensorStats();
  for (const b of batches) s.add(b);
  const direct = new Float64Array(HISTOGRAM_BINS);
  for (const b of batches) for (const v of b) direct[Math.min(HISTOGRAM_BINS - 1, Math.floor(Math.abs(v) / s.binWidth))] += 1;
  let moved = 0;
  direct.forEach((c, i) => (moved += Math.abs(c - s.hist[i])));
  // NOTE: a value within float rounding of a bin edge may land on either side of it
  assert.ok(moved <= 4, `${moved} values land in other bins than direct binning puts them`);
  assert.equal(s.hist.reduce((a, c) => a + c, 0), 25000);
  assert.ok(s.binWidth * HISTOGRAM_BINS >= Math.max(Math.abs(s.min), s.max));
});

test('percentile cuts the largest magnitudes; min/max keeps them', () => {
  const rng = makeRng(3);
  const s = new TensorStats();
  const data = Float32Array.from({ length: 100_000 }, () => rng.uniform());
  data[0] = 100; // one outlier
  s.add(data);
  assert.equal(rangeFor(s, 'minmax').max, 100);
  const p = rangeFor(s, 'percentile', { percentile: 99 });
  assert.equal(p.min, s.min);
  assert.ok(Math.abs(p.max - 0.99) < 0.06, `99th percentile of U(0,1) read as ${p.max}`);
});

test('entropy picks a threshold inside the observed range, and ignores the exact zeros of a ReLU', () => {
  const rng = makeRng(7);
  const g = new TensorStats();
  const relu = new TensorStats();
  const positive = new TensorStats();
  for (let b = 0; b < 5; b++) {
    const x = Float32Array.from({ length: 100_000 }, () => rng.normal());
    g.add(x);
    relu.add(x.map((v) => Math.max(0, v)));
    positive.add(x.filter((v) => v > 0));
  }
  const t = rangeFor(g, 'entropy');
  assert.ok(t.max >= 128 * g.binWidth && t.max <= Math.max(-g.min, g.max), `Gaussian threshold ${t.max}`);
  assert.ok(t.min >= g.min && t.min < 0);
  // half of the ReLU's values are exactly 0: its threshold is that of its positive half alone
  assert.equal(relu.zeros, relu.count - positive.count);
  assert.equal(rangeFor(relu, 'entropy').max, rangeFor(positive, 'entropy').max);
});

test('non-finite activations and empty statistics are refused with a UsageError', () => {
  assert.throws(() => new TensorStats().add(Float32Array.of(1, NaN)), (e: unknown) => e instanceof UsageError && /non-finite/.test(e.message));
  assert.throws(() => new TensorStats().add(Float32Array.of(Infinity)), UsageError);
  assert.throws(() => rangeFor(new TensorStats(), 'minmax'), /calibration set is empty/);
});

test('activation scales: uint8 covers [min(0, lo), max(0, hi)] with an integer zero point; int8 is symmetric', () => {
  const u = quantParams({ min: -1, max: 3 }, 'uint8');
  assert.equal(u.scale, 4 / 255);
  assert.equal(u.zeroPoint, 64);
  assert.deepEqual(quantParams({ min: 0.5, max: 2 }, 'uint8'), { scale: 2 / 255, zeroPoint: 0 });
  assert.deepEqual(quantParams({ min: -4, max: 1 }, 'int8'), { scale: 4 / 127, zeroPoint: 0 });
  assert.deepEqual(quantParams({ min: 0, max: 0 }, 'uint8'), { scale: 1, zeroPoint: 0 });
});
