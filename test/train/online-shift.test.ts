/**
 * Training the online model: a TSM-MobileNetV2 with the online (uni-directional) shift, trained offline on clips,
 * gives per-frame scores equal to the online step model's run frame by frame on the same frames, with the weights
 * converted by toOnlineStateDict. The bi-directional model is the control that must not match.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeOnnx } from '../../src/graph/index.js';
import { buildOnlineStepGraph, toOnlineStateDict } from '../../src/models/online-mobilenet-v2.js';
import { onlineMobileNetV2FromStateDict } from '../../src/models/online.js';
import { TSN, buildTsnGraph } from '../../src/models/tsn.js';
import { BatchNorm2d } from '../../src/nn/index.js';
import { createSession } from '../../src/runtime/index.js';
import { type HostTensor, float32, hostTensor, numel } from '../../src/tensor/index.js';
import { Trainer, initWeights } from '../../src/train/index.js';
import { makeRng, randn } from '../helpers/rng.js';

const T = 3;
const SIZE = 32;
const CLASSES = 5;

/** Per-frame scores `[T, K]` of an eval-mode TSN (identity consensus) on one clip `[1, T*3, H, W]`. */
async function offlineFrames(model: TSN, clip: HostTensor): Promise<Float32Array> {
  const frames = new TSN({ ...model.config, consensusType: 'identity' }).nameParameters();
  frames.loadStateDict(model.stateDict());
  frames.eval();
  const s = await createSession(encodeOnnx(buildTsnGraph(frames, { batch: 1, height: SIZE, width: SIZE })), { threads: 1 });
  const out = (await s.run({ input: clip })).logits;
  await s.release();
  assert.deepEqual(out.shape, [1, T, CLASSES]);
  return out.data as Float32Array;
}

/** Per-frame scores `[T, K]` of the online step model, one frame per step, buffers fed back. */
async function onlineFrames(model: TSN, clip: HostTensor): Promise<Float32Array> {
  const { model: online, layout } = onlineMobileNetV2FromStateDict(model.stateDict());
  assert.equal(layout, 'tsn');
  const s = await createSession(encodeOnnx(buildOnlineStepGraph(online, { inputSize: SIZE })), { threads: 1 });
  const shapes = online.bufferShapes(SIZE, SIZE);
  let buffers: HostTensor[] = shapes.map((sh) => float32(sh));
  const out = new Float32Array(T * CLASSES);
  const frame = 3 * SIZE * SIZE;
  for (let t = 0; t < T; t++) {
    const feeds: Record<string, HostTensor> = { frame: float32([1, 3, SIZE, SIZE], (clip.data as Float32Array).slice(t * frame, (t + 1) * frame)) };
    buffers.forEach((b, i) => (feeds[`buffer_${i}`] = b));
    const r = await s.run(feeds);
    out.set(r.logits.data as Float32Array, t * CLASSES);
    buffers = shapes.map((_, i) => r[`buffer_out_${i}`]);
  }
  await s.release();
  return out;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/**
 * An online-shift TSM-MobileNetV2 with seeded weights. Every BatchNorm gets momentum 1, so training sets its
 * running statistics to the last batch's.
 * NOTE: with the init's running statistics (0 / 1) eval-mode activations of a 17-block network either vanish or
 * sit at ReLU6's flat 6, where every frame gives the same scores and any shift would "match".
 */
function makeModel(): TSN {
  const model = new TSN({ numClass: CLASSES, numSegments: T, baseModel: 'mobilenetv2', isShift: true, shiftMode: 'online', dropout: 0.5, partialBn: false });
  initWeights(model, 4);
  const rng = makeRng(9);
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    const c = m.numFeatures;
    (m as { momentum: number }).momentum = 1;
    m.weight.tensor = float32([c], Float32Array.from({ length: c }, () => 0.5 + rng.uniform()));
    m.bias.tensor = float32([c], Float32Array.from({ length: c }, () => 0.1 * rng.normal()));
  }
  // new_fc starts at N(0, 0.001): widen it so the scores differ visibly between frames
  model.new_fc!.weight.tensor = float32(model.new_fc!.weight.shape, randn(rng, numel(model.new_fc!.weight.shape)));
  return model;
}

test('an online-shift TSM-MobileNetV2 trained offline runs frame by frame in the online step model with the same per-frame scores', async (t) => {
  const model = makeModel();
  const rng = makeRng(21);
  // two training steps (train-mode BN, dropout masks, SGD), so weights and BN statistics are trained ones
  const trainer = new Trainer(model, { lr: 0.01, lrSteps: [10], threads: 1, seed: 3 });
  const batches = Array.from({ length: 2 }, () => ({
    input: float32([2, T * 3, SIZE, SIZE], randn(rng, 2 * T * 3 * SIZE * SIZE)),
    labels: hostTensor('int64', [2], BigInt64Array.of(BigInt(rng.int(CLASSES)), BigInt(rng.int(CLASSES)))),
  }));
  const stats = await trainer.trainEpoch(0, batches);
  await trainer.release();
  assert.ok(Number.isFinite(stats.loss));
  assert.equal((model.stateDict().get('base_model.features.16.conv.1.num_batches_tracked')!.data as BigInt64Array)[0], 2n);

  const clip = float32([1, T * 3, SIZE, SIZE], randn(rng, T * 3 * SIZE * SIZE));
  const offline = await offlineFrames(model, clip);
  const online = await onlineFrames(model, clip);
  const err = maxAbsDiff(offline, online);
  const scale = offline.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  t.diagnostic(`max |offline - online| = ${err.toExponential(2)} (scores up to ${scale.toFixed(3)})`);
  assert.ok(scale > 0.1, 'scores are not trivially zero');
  assert.ok(err <= 1e-5 * Math.max(1, scale), `per-frame scores differ by ${err}`);
  // frames differ from each other, so matching them all is not a coincidence of a constant output
  assert.ok(maxAbsDiff(offline.subarray(0, CLASSES), offline.subarray(CLASSES, 2 * CLASSES)) > 1e-3);

  // control: the same weights with TSM's bi-directional shift see the next frame, which the online model cannot
  const bidir = new TSN({ ...model.config, shiftMode: 'bidirectional' }).nameParameters();
  bidir.loadStateDict(model.stateDict());
  const control = maxAbsDiff(await offlineFrames(bidir, clip), online);
  assert.ok(control > 1e-3, `the bi-directional shift should not match the online model (diff ${control})`);
});

test('online shift options: checked where they conflict, recorded in the config', () => {
  const base = { numClass: 3, numSegments: 4, isShift: true, shiftMode: 'online' } as const;
  assert.equal(new TSN({ ...base, baseModel: 'resnet18' }).config.shiftMode, 'online');
  assert.equal(new TSN({ numClass: 3, numSegments: 4, baseModel: 'resnet18' }).config.shiftMode, 'bidirectional');
  assert.throws(() => new TSN({ ...base, baseModel: 'resnet50', temporalPool: true }), /cannot go with temporal_pool/);
  assert.throws(() => new TSN({ ...base, baseModel: 'resnet50', nonLocal: true }), /cannot go with non_local/);
  assert.throws(() => new TSN({ ...base, baseModel: 'BNInception' }), /ResNet and MobileNetV2/);
  assert.throws(() => new TSN({ ...base, baseModel: 'mobilenetv2', shiftDiv: 4 }), /expected 8 \(the online model caches c \/\/ 8 channels per block\)/);
  assert.throws(() => new TSN({ ...base, isShift: false, baseModel: 'resnet18' }), /needs is_shift/);
  // keys are TSM's: the online shift changes no parameter name
  const online = [...new TSN({ ...base, baseModel: 'mobilenetv2' }).stateDict().keys()];
  const offline = [...new TSN({ ...base, shiftMode: 'bidirectional', baseModel: 'mobilenetv2' }).stateDict().keys()];
  assert.deepEqual(online, offline);
  assert.deepEqual([...toOnlineStateDict(new TSN({ ...base, baseModel: 'mobilenetv2' }).stateDict()).stateDict.keys()].slice(0, 2), ['features.0.0.weight', 'features.0.1.weight']);
});
