/**
 * Metrics on a hand-made case (confusion matrix, top-1, top-5, class accuracy, upper bound), top-k tie order,
 * and the view averaging / softmax / ensemble arithmetic of test_models.py.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AccuracyMeter,
  argmax,
  averageViews,
  classAccuracy,
  combineScores,
  computeMetrics,
  confusionMatrix,
  formatClassTable,
  formatSummary,
  splitViews,
  submissionCsv,
  topKIndices,
  type ScoreSet,
} from '../../src/evaluate/index.js';
import { float32 } from '../../src/tensor/index.js';
import { assertWithin } from '../helpers/assert-close.js';
import { ELEMENTARY_ULPS, U32, U64, gamma } from '../helpers/fp32-bounds.js';

// 9 videos of classes 0..2 of 6; class 3 is predicted but has no videos, classes 4 and 5 never occur
const LABELS = [0, 0, 0, 1, 1, 2, 2, 2, 2];
const PREDS = [0, 0, 1, 1, 3, 0, 0, 2, 3];
const NUM_CLASS = 6;
function scores(): Float32Array {
  const s = new Float32Array(LABELS.length * NUM_CLASS);
  PREDS.forEach((p, i) => {
    for (let c = 0; c < NUM_CLASS; c++) s[i * NUM_CLASS + c] = 0.01 * (NUM_CLASS - c); // class 5 is always last
    s[i * NUM_CLASS + p] = 0.9;
  });
  s[4 * NUM_CLASS + 1] = -1; // video 4 (label 1): its label is the lowest score, outside the top 5
  return s;
}

test('metrics on a hand-made case: confusion matrix, Prec@1, Prec@5, class accuracy and upper bound', () => {
  const m = computeMetrics(scores(), LABELS, NUM_CLASS, ['a', 'b', 'c', 'd', null, 'f']);
  assert.deepEqual(m.confusion, [
    [2, 1, 0, 0, 0, 0],
    [0, 1, 0, 1, 0, 0],
    [2, 0, 1, 1, 0, 0],
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],
  ]);
  assert.equal(m.top1, (100 * 4) / 9);
  assert.equal(m.top5, (100 * 8) / 9);
  assert.equal(m.k, 5);
  // cls_hit / cls_cnt over the classes with videos: 2/3, 1/2, 1/4
  // float64 on both sides: three quotients, their sum, a product and a quotient (gamma_8 of the value each)
  const mca = (100 * (2 / 3 + 1 / 2 + 1 / 4)) / 3;
  assert.ok(Math.abs(m.meanClassAccuracy - mca) <= 2 * gamma(8, U64) * mca, `${m.meanClassAccuracy} vs ${mca}`);
  // max(cf, axis=1) / cls_cnt: 2/3, 1/2, 2/4
  const ub = (100 * (2 / 3 + 1 / 2 + 2 / 4)) / 3;
  assert.ok(Math.abs(m.upperBound - ub) <= 2 * gamma(8, U64) * ub, `${m.upperBound} vs ${ub}`);
  assert.deepEqual(m.perClass[2], { index: 2, name: 'c', count: 4, hits: 1, accuracy: 25, confusedWith: { index: 0, name: 'a', count: 2 } });
  assert.equal(m.perClass[3].accuracy, null);
  assert.equal(m.perClass[4].name, 'class 4', 'a class without a name');
  assert.match(formatSummary(m), /Class Accuracy 47\.22%\nOverall Prec@1 44\.44% Prec@5 88\.89%$/);
  assert.match(formatClassTable(m), /^2 c +4 +1 +25\.00% +a \(2\)$/m);
});

test('AccuracyMeter over batches equals the metrics over all videos; classAccuracy skips classes without videos', () => {
  const s = scores();
  const meter = new AccuracyMeter(NUM_CLASS);
  meter.update(s.subarray(0, 4 * NUM_CLASS), LABELS.slice(0, 4));
  assert.equal(meter.top1, 75);
  meter.update(s.subarray(4 * NUM_CLASS), LABELS.slice(4));
  assert.equal(meter.top1, (100 * 4) / 9);
  assert.equal(meter.top5, (100 * 8) / 9);
  assert.equal(new AccuracyMeter(3).k, 3, 'top-k is capped by the class count');
  const acc = classAccuracy(confusionMatrix([0, 1], [1, 1], 3));
  assert.deepEqual(acc.perClass, [0, 1, null]);
  assert.equal(acc.mean, 0.5);
  assert.throws(() => computeMetrics(new Float32Array(5), [0], 4), /5 values, expected 1 videos x 4 classes/);
  assert.throws(() => computeMetrics(new Float32Array(4), [4], 4), /a class index in \[0, 4\) for the label of video 0 but received 4/);
});

test('top-k and argmax keep the lower class on ties (numpy argmax picks the first maximum)', () => {
  assert.deepEqual(topKIndices([1, 3, 3, 2], 2), [1, 2]);
  assert.deepEqual(topKIndices([5, 5, 5], 3), [0, 1, 2]);
  assert.deepEqual(topKIndices([0.1, 0.4, 0.2, 0.3], 3), [1, 3, 2]);
  assert.equal(argmax([2, 5, 5]), 1);
});

test('views are averaged per video (rst.reshape(B, num_crop, -1).mean(1)), then softmax; ensembles are sum(coeff*s)/n', () => {
  const logits = float32([6, 2], [1, 2, 3, 4, 5, 6, 0, 0, 0, 3, 3, 0]);
  // small integers summed and divided in float64: exact
  assertWithin(averageViews(logits, 3), [3, 4, 1, 1], 0, 'mean of 3 views');
  const e = Math.exp(1);
  // softmax in float64 (exp, a sum of 2, a division) then a float32 store: u |p| + gamma_(ELEMENTARY_ULPS+4) |p| for
  // each side in float64
  const p = [1 / (1 + e), e / (1 + e), 0.5, 0.5];
  assertWithin(averageViews(logits, 3, { softmax: true }), p, p.map((v) => (U32 + 2 * gamma(ELEMENTARY_ULPS + 4, U64)) * v), 'softmax after the mean');
  // identity consensus [B*V, T, C]: the segments are averaged too
  assertWithin(averageViews(float32([2, 2, 1], [1, 3, 5, 7]), 2), [4], 0, '[B*V, T, C]');
  assert.throws(() => averageViews(float32([5, 2]), 3), /\[B x 3 views, num_class\].*got \[5,2\]/);
  // (1 * a + 0.5 * b) / 2 of small binary fractions: exact
  assertWithin(combineScores([Float32Array.from([1, 2]), Float32Array.from([3, 4])], [1, 0.5]), [1.25, 2], 0, 'ensemble');
  assert.throws(() => combineScores([new Float32Array(2)], [1, 2]), /2 coefficients \(coeffs\) for 1 models/);
  const x = float32([2, 12, 4, 4]);
  assert.deepEqual(splitViews(x, 3).shape, [6, 4, 4, 4]);
  assert.equal(splitViews(x, 3).data, x.data, 'no copy');
  assert.throws(() => splitViews(x, 5), /5 views, got \[2,12,4,4\]/);
});

test('the CSV submission: video;class, and for Something-Something v2 video;five class indices', () => {
  const meta = (dataset: string): ScoreSet['meta'] => ({
    format: 'tsm-scores/1',
    runId: 'x',
    run: { kind: 'test', dataset, models: [], protocol: { testCrops: 1, fullRes: false, twiceSample: false, denseSample: false, softmax: false }, maxNum: null },
    numClass: NUM_CLASS,
    categories: ['a', 'b', 'c', 'd', null, 'f'],
    scoreType: 'logits',
    total: 9,
    shard: null,
    videos: LABELS.map((label, i) => ({ index: i, id: `v${i}`, label })),
  });
  const s = scores();
  assert.equal(submissionCsv({ meta: meta('something'), scores: s }).split('\n').slice(0, 5).join('|'), 'v0;a|v1;a|v2;b|v3;b|v4;d');
  assert.equal(submissionCsv({ meta: meta('somethingv2'), scores: s }).split('\n')[4], 'v4;3;0;2;4;5');
});
