/**
 * `predict` and `tsm predict`: a frame folder and the same frames as a lossless video give the same
 * probabilities, equal to the model's own softmax of the view-averaged logits; `--json`, `--labels`, `--top-k`;
 * sharded prediction merged by `tsm merge-scores`; frame-name template detection.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { TSNDataSet, renderSyntheticClip, testCropping } from '../../src/data/index.js';
import { detectFrameTemplate, predict, readScoreSet } from '../../src/evaluate/index.js';
import { TsnRunner, loadTsn } from '../../src/models/index.js';
import { float32 } from '../../src/tensor/index.js';
import { assertClose, assertWithin, describeBound } from '../helpers/assert-close.js';
import { formatPredictions, parsePredictFlags } from '../../src/cli/commands/predict.js';
import { writePth } from '../../src/checkpoint/index.js';
import { JESTER_LABELS } from '../../src/deploy/labels.js';
import { CLASSES, type EvalFixture, IMAGENET_NORM, INPUT_SIZE, logitBudget, makeEvalFixture, randomTsn, tsm, videoScoreBound } from './fixture.js';

let fx: EvalFixture;
let pngDir: string;
let video: string;
let jpgDirs: string[];
before(async () => {
  fx = await makeEvalFixture(5);
  pngDir = join(fx.dir, 'clip_png');
  mkdirSync(pngDir);
  const frames = renderSyntheticClip('right', { size: 32, frames: 12, seed: 3 });
  for (const [i, f] of frames.entries()) {
    await sharp(Buffer.from(f.data), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(pngDir, `img_${String(i + 1).padStart(5, '0')}.png`));
  }
  video = join(fx.dir, 'clip.mkv');
  // ffv1 in RGB is lossless, so the decoded frames are the PNGs' pixels
  execFileSync('ffmpeg', ['-v', 'error', '-framerate', '10', '-i', join(pngDir, 'img_%05d.png'), '-c:v', 'ffv1', '-pix_fmt', 'bgr0', video]);
  jpgDirs = ['left/left_00000', 'right/right_00001', 'up/up_00002'].map((p) => join(fx.dataset, 'frames', p));
});
after(() => rmSync(fx.dir, { recursive: true, force: true }));

test('predict: a frame folder and the same frames as a video give the model\'s softmax of the view-averaged logits', async (t) => {
  const res = await predict([pngDir, video], { weights: fx.weights, testCrops: 3, twiceSample: true, inputSize: INPUT_SIZE, batchSize: 2, topK: 3 });
  const s = res.scores.scores;
  // the same pixels (ffv1 is lossless) through the same session and the same operations: exact
  assertClose(s.subarray(4), s.subarray(0, 4), { atol: 0, rtol: 0, what: 'video vs frame folder' });

  const model = await loadTsn(fx.weights);
  const ds = new TSNDataSet({
    rootPath: fx.dir,
    records: [{ path: 'clip_png', numFrames: 12, label: 0 }],
    numSegments: 4,
    imageTmpl: 'img_{:05d}.png',
    transform: testCropping(3, { inputSize: INPUT_SIZE }),
    normalize: { mean: [...IMAGENET_NORM.mean], std: [...IMAGENET_NORM.std] },
    randomShift: false,
    testMode: true,
    twiceSample: true,
  });
  const { input } = await ds.getItem(0);
  const runner = new TsnRunner(model, { threads: 1 });
  const per = 4 * 3 * INPUT_SIZE * INPUT_SIZE;
  const logits: number[] = [];
  for (let v = 0; v < 6; v++) {
    logits.push(...((await runner.logits(float32([1, 12, INPUT_SIZE, INPUT_SIZE], input.data.subarray(v * per, (v + 1) * per)))).data as Float32Array));
  }
  await runner.release();
  // predict's and the hand-made probabilities against the float64 model's, each within the model's fp32 budget
  // carried through the mean over the 6 views and softmax (fixture.ts)
  const budget = await logitBudget(fx.weights, Float32Array.from(input.data), [6, 12, INPUT_SIZE, INPUT_SIZE]);
  const { scores: exact, bound } = videoScoreBound(budget.logits64, budget.bound, 6, 4, true);
  const probs = videoScoreBound(logits, budget.bound, 6, 4, true).scores;
  t.diagnostic(describeBound('probabilities vs float64', assertWithin(s.subarray(0, 4), exact, bound, 'probabilities')));
  assertWithin(probs, exact, bound, 'hand-made probabilities');
  const order = [0, 1, 2, 3].sort((a, b) => probs[b] - probs[a]);
  assert.deepEqual(res.predictions[0].top.map((t) => t.index), order.slice(0, 3));
  assert.equal(res.predictions[0].top[0].label, `class ${order[0]}`);
  assert.equal(res.scores.meta.scoreType, 'probabilities');
  assert.deepEqual(res.scores.meta.videos.map((v) => v.label), [-1, -1]);
});

test('tsm predict --json --labels --top-k, and sharded prediction merged by tsm merge-scores', async () => {
  const labels = join(fx.dir, 'labels.txt');
  writeFileSync(labels, `${CLASSES.map((c) => c.toUpperCase()).join('\n')}\n`);
  const inputs = [...jpgDirs, video];
  const r = tsm('predict', ...inputs, '--weights', fx.weights, '--json', '--labels', labels, '--top-k', '2', '--input-size', String(INPUT_SIZE));
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { model: string; predictions: { input: string; top: { index: number; label: string; probability: number }[] }[] };
  assert.match(doc.model, /^resnet18, 4 segments, shift 1\/8 blockres, avg, 4 classes$/);
  const lib = await predict(inputs, { weights: fx.weights, inputSize: INPUT_SIZE, topK: 2, labels: CLASSES.map((c) => c.toUpperCase()) });
  assert.deepEqual(doc.predictions.map((p) => p.input), inputs);
  // The CLI (another process, maybe other kernels) and the library against the float64 model's probabilities, each
  // within its fp32 budget: predict's one view of 4 segments per input (the video decodes to the PNGs' pixels).
  const views: Float32Array[] = [];
  for (const [tmpl, dirs] of [['img_{:05d}.jpg', jpgDirs], ['img_{:05d}.png', [pngDir]]] as const) {
    const ds = new TSNDataSet({
      rootPath: '/',
      records: dirs.map((d) => ({ path: d, numFrames: 12, label: 0 })),
      numSegments: 4,
      imageTmpl: tmpl,
      transform: testCropping(1, { inputSize: INPUT_SIZE }),
      normalize: { mean: [...IMAGENET_NORM.mean], std: [...IMAGENET_NORM.std] },
      randomShift: false,
      testMode: true,
    });
    for (let i = 0; i < ds.length; i++) views.push(Float32Array.from((await ds.getItem(i)).input.data));
  }
  const all = new Float32Array(views.length * views[0].length);
  views.forEach((v, i) => all.set(v, i * v.length));
  const budget = await logitBudget(fx.weights, all, [views.length, 12, INPUT_SIZE, INPUT_SIZE]);
  const { scores: exact, bound } = videoScoreBound(budget.logits64, budget.bound, 1, 4, true);
  doc.predictions.forEach((p, i) => {
    assert.equal(p.top.length, 2);
    assert.deepEqual(p.top.map((t) => t.label), lib.predictions[i].top.map((t) => t.label));
    const at = (top: readonly { index: number }[]) => top.map((t) => i * 4 + t.index);
    assertWithin(p.top.map((t) => t.probability), at(p.top).map((j) => exact[j]), at(p.top).map((j) => bound[j]), `${p.input} (CLI)`);
    assertWithin(lib.predictions[i].top.map((t) => t.probability), at(lib.predictions[i].top).map((j) => exact[j]), at(lib.predictions[i].top).map((j) => bound[j]), `${p.input} (library)`);
    assert.ok(CLASSES.map((c) => c.toUpperCase()).includes(p.top[0].label));
  });

  const out = join(fx.dir, 'pred-shards');
  for (const i of [0, 1]) {
    const s = tsm('predict', ...inputs, '--weights', fx.weights, '--input_size', String(INPUT_SIZE), '--shard', `${i}/2`, '--output', out);
    assert.equal(s.status, 0, s.stderr);
  }
  const m = tsm('merge-scores', out, '--json', '--top-k', '2');
  assert.equal(m.status, 0, m.stderr);
  const merged = JSON.parse(m.stdout) as { predictions: { input: string; top: { index: number; probability: number }[] }[] };
  assert.deepEqual(merged.predictions.map((p) => p.input), inputs);
  merged.predictions.forEach((p, i) => assert.deepEqual(p.top.map((t) => t.index), lib.predictions[i].top.map((t) => t.index)));
  // merging copies the shards' float32 scores: exact
  assertClose((await readScoreSet(join(out, 'scores.json'))).scores, lib.scores.scores, { atol: 0, rtol: 0, what: 'merged probabilities' });

  assert.match(formatPredictions(lib.predictions.slice(0, 1)), /left_00000\n +\d+\.\d\d% {2}[A-Z]+\n +\d+\.\d\d% {2}[A-Z]+$/);
  const missing = tsm('predict', join(fx.dir, 'nothing.mp4'), '--weights', fx.weights);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /error TSM_USAGE: input .*nothing\.mp4 does not exist; expected a video file or a folder of frames/);
  assert.throws(() => parsePredictFlags([pngDir], { weights: fx.weights, shard: '0/2' }), /--shard writes a partial score file: pass --output DIR/);
  assert.throws(() => parsePredictFlags([pngDir], { weights: fx.weights, top_k: '0' }), /expected a positive integer for --top-k but received "0"/);
  assert.equal(readFileSync(labels, 'utf8').split('\n')[0], 'LEFT');
});

test('predict names the classes a checkpoint comes with: its recorded categories, else its zoo dataset\'s from the file name', async () => {
  const model = randomTsn(11, JESTER_LABELS.length, 4);
  const stateDict = model.stateDict();
  // a released Jester file name (27 classes) and no categories: the shipped Jester names
  const released = join(fx.dir, 'TSM_jester_RGB_resnet18_shift8_blockres_avg_segment4_e1.pth');
  await writePth(released, { stateDict });
  // the same weights under a name that says nothing, with the categories `tsm train` records
  const recorded = join(fx.dir, 'my_gestures.pth');
  const categories = JESTER_LABELS.map((_, i) => `gesture ${String.fromCharCode(65 + (i % 26))}${i}`);
  await writePth(recorded, { stateDict, meta: { categories } });
  const overrides = { arch: 'resnet18', isShift: true, numSegments: 4 } as const;
  const zoo = await predict([pngDir], { weights: released, inputSize: INPUT_SIZE, topK: 27 });
  const own = await predict([pngDir], { weights: recorded, overrides, inputSize: INPUT_SIZE, topK: 27 });
  for (const c of zoo.predictions[0].top) assert.equal(c.label, JESTER_LABELS[c.index]);
  for (const c of own.predictions[0].top) assert.equal(c.label, categories[c.index]);
  assert.deepEqual(zoo.scores.meta.categories, [...JESTER_LABELS]);
  // given labels still win
  const given = JESTER_LABELS.map((_, i) => `g${i}`);
  const res = await predict([pngDir], { weights: released, inputSize: INPUT_SIZE, topK: 1, labels: given });
  assert.equal(res.predictions[0].top[0].label, given[res.predictions[0].top[0].index]);
});

test('detectFrameTemplate: padded, unpadded, Flow x/y pairs; gaps and 0-based numbering are refused', () => {
  const padded = ['img_00001.jpg', 'img_00002.jpg', 'img_00003.jpg', 'thumb.jpg', 'notes.txt'];
  assert.deepEqual(detectFrameTemplate(padded), { tmpl: 'img_{:05d}.jpg', numFrames: 3 });
  assert.deepEqual(detectFrameTemplate(Array.from({ length: 12 }, (_, i) => `${i + 1}.png`)), { tmpl: '{}.png', numFrames: 12 });
  assert.deepEqual(detectFrameTemplate(['000001.jpg', '000002.jpg']), { tmpl: '{:06d}.jpg', numFrames: 2 });
  const flow = ['flow_x_00001.jpg', 'flow_y_00001.jpg', 'flow_x_00002.jpg', 'flow_y_00002.jpg', 'img_00001.jpg', 'img_00002.jpg', 'img_00003.jpg'];
  assert.deepEqual(detectFrameTemplate(flow, 'Flow'), { tmpl: 'flow_{}_{:05d}.jpg', numFrames: 2 });
  assert.deepEqual(detectFrameTemplate(flow, 'RGB'), { tmpl: 'img_{:05d}.jpg', numFrames: 3 });
  assert.throws(() => detectFrameTemplate(['img_00001.jpg', 'img_00003.jpg'], 'RGB', '/x'), /cannot find .*frames numbered 1\.\.N in \/x \(found img_\*\.jpg: 2 files numbered 1\.\.3\)/);
  assert.throws(() => detectFrameTemplate(['f0.jpg', 'f1.jpg']), /numbered 0\.\.1/);
  assert.throws(() => detectFrameTemplate(['a.txt']), /no numbered image files/);
});
