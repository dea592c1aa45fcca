/**
 * `tsm test` and `tsm merge-scores` end to end on a tiny synthetic dataset and a seeded TSM-ResNet-18: the
 * accuracy equals the one computed by hand from the model's own logits on the same frames, 3 shards merged give
 * the single run, an ensemble combines its members with their coefficients, and bad inputs exit with clear errors.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readNpy } from '../../src/checkpoint/index.js';
import { evaluate } from '../../src/evaluate/index.js';
import { TsnRunner, loadTsn } from '../../src/models/index.js';
import { float32 } from '../../src/tensor/index.js';
import { assertWithin, describeBound } from '../helpers/assert-close.js';
import { U32 } from '../helpers/fp32-bounds.js';
import { type EvalFixture, INPUT_SIZE, logitBudget, makeEvalFixture, testDataset, tsm, videoScoreBound, writeCentredCheckpoint } from './fixture.js';

let fx: EvalFixture;
before(async () => {
  fx = await makeEvalFixture();
});
after(() => rmSync(fx.dir, { recursive: true, force: true }));

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const scoresOf = async (dir: string, stem = 'scores') => (await readNpy(join(dir, `${stem}.npy`))).data as Float32Array;

/**
 * Per-video scores computed without src/evaluate: each view through the model alone, then the mean (float64);
 * and the same from the float64 PyTorch model (`exact`) with the bound any fp32 evaluation of the model is within
 * (fixture.ts logitBudget: this model's fp32 rounding-error budget, videoScoreBound: through the mean and softmax).
 * Our per-view logits are checked against the float64 ones on the way.
 */
async function handScores(
  weights: string,
  crops: 1 | 3 | 10,
  extra: { twiceSample?: boolean; denseSample?: boolean },
  softmax: boolean,
): Promise<{ hand: Float64Array[]; exact: Float64Array; bound: Float64Array }> {
  const model = await loadTsn(weights);
  const t = model.config.numSegments;
  const numClass = model.config.numClass;
  const ds = await testDataset(fx.dataset, fx.valList, t, crops, extra);
  const runner = new TsnRunner(model, { threads: 1 });
  const per = t * 3 * INPUT_SIZE * INPUT_SIZE;
  const inputs: Float32Array[] = [];
  const logits: number[] = [];
  let views = 0;
  for (let i = 0; i < ds.length; i++) {
    const { input } = await ds.getItem(i);
    views = input.data.length / per;
    for (let v = 0; v < views; v++) {
      const x = input.data.subarray(v * per, (v + 1) * per);
      inputs.push(Float32Array.from(x));
      logits.push(...((await runner.logits(float32([1, t * 3, INPUT_SIZE, INPUT_SIZE], x))).data as Float32Array));
    }
  }
  await runner.release();
  const all = new Float32Array(inputs.length * per);
  inputs.forEach((x, i) => all.set(x, i * per));
  const budget = await logitBudget(weights, all, [inputs.length, t * 3, INPUT_SIZE, INPUT_SIZE]);
  assertWithin(logits, budget.logits64, budget.bound, 'our per-view logits vs float64');
  const ours = videoScoreBound(logits, budget.bound, views, numClass, softmax).scores;
  const { scores: exact, bound } = videoScoreBound(budget.logits64, budget.bound, views, numClass, softmax);
  const hand = Array.from({ length: ds.length }, (_, i) => ours.slice(i * numClass, (i + 1) * numClass));
  return { hand, exact, bound };
}

const argmax = (r: ArrayLike<number>) => Array.from(r).reduce((b, v, i, a) => (v > a[b] ? i : b), 0);

test('tsm test: accuracy, class accuracy and scores equal those computed by hand from the model (3 crops x 2 clips, softmax)', async (t) => {
  const out = join(fx.dir, 'run');
  const r = tsm('test', fx.dataset, `--weights=${fx.weights}`, '--test_crops=3', '--twice_sample', '--softmax', '--input_size', String(INPUT_SIZE), '--batch_size', '5', '-j', '1', '--output', out);
  assert.equal(r.status, 0, r.stderr);
  const { hand, exact, bound } = await handScores(fx.weights, 3, { twiceSample: true }, true);
  const preds = hand.map(argmax);
  assert.ok(new Set(preds).size >= 2, `the fixture model should not predict one class for every video (got ${preds})`);
  const hits = preds.filter((p, i) => p === fx.labels[i]).length;
  const top1 = (100 * hits) / preds.length;
  const perClass = [0, 1, 2, 3].map((c) => {
    const idx = fx.labels.flatMap((l, i) => (l === c ? [i] : []));
    return idx.filter((i) => preds[i] === c).length / idx.length;
  });
  const metrics = json(join(out, 'metrics.json'));
  assert.equal(metrics.numVideos, 12);
  assert.equal(metrics.top1, top1);
  assert.equal(metrics.k, 4, 'top-5 becomes top-4 with 4 classes');
  assert.equal(metrics.top5, 100);
  assert.ok(Math.abs((metrics.meanClassAccuracy as number) - 100 * (perClass.reduce((a, b) => a + b) / 4)) < 1e-9);
  // tsm test's and the hand-made scores against the float64 model's, each within the fp32 budget
  t.diagnostic(describeBound('video scores vs float64', assertWithin(await scoresOf(out), exact, bound, 'video scores')));
  t.diagnostic(describeBound('hand-made scores vs float64', assertWithin(Float64Array.from(hand.flatMap((h) => [...h])), exact, bound, 'hand-made scores')));
  assert.match(r.stdout, new RegExp(`Overall Prec@1 ${top1.toFixed(2)}% Prec@4 100\\.00%`));
  assert.match(r.stdout, /Class Accuracy \d+\.\d\d%/);
  assert.match(r.stdout, /^0 left {2,}3 /m, 'per-class table');
  const meta = json(join(out, 'scores.json'));
  assert.equal(meta.scoreType, 'probabilities');
  assert.deepEqual((meta.videos as { label: number }[]).map((v) => v.label), fx.labels);
  assert.match(readFileSync(join(out, 'confusion.html'), 'utf8'), /<table class="cm">/);
  assert.deepEqual([...readFileSync(join(out, 'confusion.png')).subarray(1, 4)], [...Buffer.from('PNG')]);
  const cm = await readNpy(join(out, 'confusion.npy'));
  assert.deepEqual(cm.shape, [4, 4]);
  assert.equal([...(cm.data as Float64Array)].reduce((a, b) => a + b), 12);
});

test('3 shards merged by tsm merge-scores equal one run (dense sampling, 10 clips), and the CSV submission', async (t) => {
  const base = ['test', fx.dataset, '--weights', fx.weights, '--test-crops', '1', '--dense-sample', '--input-size', String(INPUT_SIZE), '--batch-size', '2', '-j', '0'];
  const one = join(fx.dir, 'one');
  const r1 = tsm(...base, '--output', one, '--csv-file', join(fx.dir, 'one.csv'));
  assert.equal(r1.status, 0, r1.stderr);
  const sharded = join(fx.dir, 'sharded');
  for (let i = 0; i < 3; i++) {
    const r = tsm(...base, '--shard', `${i}/3`, '--output', sharded);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`shard ${i}/3: 4 videos`));
    assert.ok(!existsSync(join(sharded, 'metrics.json')), 'a shard writes scores only');
  }
  const shard1 = json(join(sharded, 'scores.shard-1-of-3.json'));
  assert.deepEqual((shard1.videos as { index: number }[]).map((v) => v.index), [1, 4, 7, 10]);
  const m = tsm('merge-scores', sharded, '--csv_file', join(fx.dir, 'merged.csv'));
  assert.equal(m.status, 0, m.stderr);
  assert.deepEqual(json(join(sharded, 'metrics.json')), json(join(one, 'metrics.json')));
  assert.deepEqual(json(join(sharded, 'scores.json')), json(join(one, 'scores.json')));
  const merged = await scoresOf(sharded);
  const csv = readFileSync(join(fx.dir, 'one.csv'), 'utf8');
  assert.equal(csv, readFileSync(join(fx.dir, 'merged.csv'), 'utf8'));
  assert.match(csv.split('\n')[0], /^down\/down_00000;(left|right|up|down)$/);
  // merging again picks the shards, not the merged scores.json beside them
  assert.equal(tsm('merge-scores', sharded, '--output', join(fx.dir, 'again')).status, 0);

  const { hand, exact, bound } = await handScores(fx.weights, 1, { denseSample: true }, false);
  // the merged shards, the single run and the hand-made scores against the float64 model's, each within the budget
  t.diagnostic(describeBound('merged scores vs float64', assertWithin(merged, exact, bound, 'merged scores')));
  t.diagnostic(describeBound('10 dense clips vs float64', assertWithin(await scoresOf(one), exact, bound, '10 dense clips')));
  assertWithin(Float64Array.from(hand.flatMap((h) => [...h])), exact, bound, 'hand-made scores');
});

test('an ensemble is sum(coeff * scores) / n of its members; merge-scores recombines the saved members the same way', async () => {
  const second = await writeCentredCheckpoint(fx.dir, fx.dataset, 11, 2);
  const out = join(fx.dir, 'ens');
  const r = tsm('test', fx.dataset, '--weights', `${fx.weights},${second}`, '--test_segments', '4,2', '--coeff', '1,0.5', '--input-size', String(INPUT_SIZE), '--batch-size', '4', '-j', '0', '--output', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /model 1: resnet18, 2 segments/);
  const [ens, a, b] = await Promise.all([scoresOf(out), scoresOf(join(out, 'models', '0')), scoresOf(join(out, 'models', '1'))]);
  // combineScores adds 1 * a and 0.5 * b (float32 values: exact in float64) and halves (exact), then stores as
  // float32: one rounding, u |e|
  const want = a.map((x, i) => (x + 0.5 * b[i]) / 2);
  assertWithin(ens, want, Array.from(want, (v) => U32 * Math.abs(v)), 'ensemble');
  const member = await handScores(second, 1, {}, false);
  assertWithin(b, member.exact, member.bound, 'member 1 vs float64');

  const re = join(fx.dir, 'recombined');
  const m = tsm('merge-scores', join(out, 'models', '0'), join(out, 'models', '1'), '--coeff', '1,0.5', '--output', re);
  assert.equal(m.status, 0, m.stderr);
  // the same float32 member scores through the same combineScores: the same operations, exact
  assertWithin(await scoresOf(re), ens, 0, 'recombined');
  assert.deepEqual(json(join(re, 'metrics.json')), json(join(out, 'metrics.json')));
  const bad = tsm('merge-scores', join(out, 'models', '0'), join(out, 'models', '1'), '--coeff', '1', '--output', re);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /error TSM_USAGE: 1 coefficients \(--coeff\) for 2 runs/);
});

test('bad input: unknown dataset (2), malformed list line (1), label out of range (1), missing frames (1), weights of another arch (1), bad shard (2)', () => {
  const common = ['--input-size', String(INPUT_SIZE), '-j', '0', '--output', join(fx.dir, 'bad')];
  const unknown = tsm('test', 'no-such-dataset', '--weights', fx.weights, ...common);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /error TSM_USAGE: Unsupported dataset: no-such-dataset\. Must be one of \[ucf101, hmdb51, something, somethingv2, jester, kinetics/);

  const malformed = join(fx.dir, 'malformed.txt');
  writeFileSync(malformed, 'left/left_00000 12 0\nright/right_00000 twelve 1\n');
  const m = tsm('test', fx.dataset, '--weights', fx.weights, '--test_list', malformed, ...common);
  assert.equal(m.status, 1);
  assert.match(m.stderr, /error TSM_DATA: .*malformed\.txt:2: num_frames must be a non-negative integer, got "twelve"/);

  const outOfRange = join(fx.dir, 'out-of-range.txt');
  writeFileSync(outOfRange, 'left/left_00000 12 0\nright/right_00000 12 9\n');
  const r = tsm('test', fx.dataset, '--weights', fx.weights, '--test_list', outOfRange, ...common);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /error TSM_DATA: .*out-of-range\.txt:2: label 9 of right\/right_00000 is outside the 4 classes \(valid labels 0\.\.3\)/);

  const missing = join(fx.dir, 'missing.txt');
  writeFileSync(missing, 'left/left_00000 12 0\nleft/gone 12 0\nright/right_00000 40 1\n');
  const g = tsm('test', fx.dataset, '--weights', fx.weights, '--test-list', missing, ...common);
  assert.equal(g.status, 1);
  assert.match(g.stderr, /error TSM_DATA: 2 of 3 videos of .*missing\.txt have missing frames:/);
  assert.match(g.stderr, /video 1 \(left\/gone\): frame folder .*left\/gone does not exist/);
  assert.match(g.stderr, /video 2 \(right\/right_00000\):.*img_00040\.jpg/);

  const wrongArch = join(fx.dir, 'TSM_synthetic_RGB_mobilenetv2_shift8_blockres_avg_segment4_e1.pth');
  copyFileSync(fx.weights, wrongArch);
  const w = tsm('test', fx.dataset, '--weights', wrongArch, ...common);
  assert.equal(w.status, 1);
  assert.match(w.stderr, /error TSM_CHECKPOINT_ARCH: TSM_synthetic_RGB_mobilenetv2_.* holds a resnet18 but the model is mobilenetv2 \(from the file name\); pass --arch resnet18/);

  const shard = tsm('test', fx.dataset, '--weights', fx.weights, '--shard', '3/3', ...common);
  assert.equal(shard.status, 2);
  assert.match(shard.stderr, /expected i\/n with 0 <= i < n.* for --shard but received "3\/3"/);
});

test('evaluate() rejects weights whose class count is not the dataset\'s, and dense with twice sampling', async () => {
  const two = join(fx.dir, 'two-classes');
  mkdirSync(two, { recursive: true });
  writeFileSync(join(two, 'category.txt'), 'left\nright\n');
  const manifest = { name: 'two', categories: 'category.txt', trainList: '../syn/train_videofolder.txt', valList: '../syn/val_videofolder.txt', root: '../syn/frames', imageTmpl: 'img_{:05d}.jpg' };
  writeFileSync(join(two, 'dataset.json'), JSON.stringify(manifest));
  await assert.rejects(evaluate({ dataset: two, models: [{ weights: fx.weights }], workers: 0 }), /TSM_synthetic_RGB_resnet18_.*\.pth predicts 4 classes but dataset two has 2; test it on its own dataset/);
  const jester = join(fx.dir, 'TSM_jester_RGB_resnet18_shift8_blockres_avg_segment4_e1.pth');
  copyFileSync(fx.weights, jester);
  await assert.rejects(evaluate({ dataset: fx.dataset, models: [{ weights: jester }], workers: 0 }), /has 4 classes \(classifier weight \[4, \.\.\.\]\) but num_class is 27 \(from the file name\)/);
  await assert.rejects(evaluate({ dataset: fx.dataset, models: [{ weights: fx.weights }], denseSample: true, twiceSample: true }), /cannot be combined/);
});
