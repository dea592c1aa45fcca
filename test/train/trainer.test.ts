/**
 * Trains a tiny TSM from scratch on generated clips of a square moving left or right. One frame cannot tell the
 * direction, so the loss only drops if the temporal shift carries information between frames.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type PickleValue, encodePth, extractStateDict, parsePth } from '../../src/checkpoint/index.js';
import type { GraphBuilder, Value } from '../../src/graph/index.js';
import { TemporalShift } from '../../src/models/temporal-shift.js';
import { BatchNorm2d, Conv2d, Linear, Module } from '../../src/nn/index.js';
import { float32, hostTensor, numel } from '../../src/tensor/index.js';
import { type Batch, type TrainEvent, Trainer, accuracy } from '../../src/train/index.js';
import { makeRng } from '../helpers/rng.js';

const T = 4;
const SIZE = 16;

/** conv-bn-relu, a shifted conv-bn-relu, global pooling, fc, and the average over segments. */
class TinyTsm extends Module {
  readonly conv1 = new Conv2d(3, 8, { kernelSize: 3, stride: 2, padding: 1, bias: false });
  readonly bn1 = new BatchNorm2d(8);
  readonly conv2: TemporalShift;
  readonly bn2 = new BatchNorm2d(16);
  readonly fc = new Linear(16, 2);

  /** @param foldDiv shift 1/foldDiv of the channels each way; larger than 8 channels means no shift at all */
  constructor(foldDiv = 4) {
    super();
    this.conv2 = new TemporalShift(new Conv2d(8, 16, { kernelSize: 3, padding: 1, bias: false }), T, foldDiv);
  }

  forward(g: GraphBuilder, x: Value): Value {
    let y = g.reshape(x, [-1, 3, SIZE, SIZE]);
    y = g.relu(this.bn1.forward(g, this.conv1.forward(g, y)));
    y = g.relu(this.bn2.forward(g, this.conv2.forward(g, y)));
    y = this.fc.forward(g, g.flatten(g.globalAveragePool(y), 1));
    return g.reduceMean(g.reshape(y, [-1, T, 2]), [1], false);
  }
}

/** Seeded He-normal weights (the modules start at zero). */
function init(m: TinyTsm, seed: number): void {
  const rng = makeRng(seed);
  for (const [k, p] of m.namedTensors()) {
    if (!k.endsWith('weight') || k.startsWith('bn')) continue;
    const fanIn = numel(p.shape) / p.shape[0];
    p.tensor = float32(p.shape, Array.from({ length: numel(p.shape) }, () => rng.normal() * Math.sqrt(2 / fanIn)));
  }
}

/** A batch of clips `[B, T*3, 16, 16]`: a 4x4 square moving 2 px per frame left (label 0) or right (label 1). */
function makeBatch(rng: ReturnType<typeof makeRng>, b: number): Batch {
  const data = new Float32Array(b * T * 3 * SIZE * SIZE);
  const labels = new BigInt64Array(b);
  for (let i = 0; i < b; i++) {
    const right = rng.uniform() < 0.5;
    labels[i] = right ? 1n : 0n;
    const y0 = rng.int(SIZE - 4);
    const x0 = right ? rng.int(7) : 6 + rng.int(7);
    for (let t = 0; t < T; t++) {
      const x = x0 + (right ? 2 : -2) * t;
      for (let c = 0; c < 3; c++) {
        const base = ((i * T + t) * 3 + c) * SIZE * SIZE;
        for (let p = 0; p < SIZE * SIZE; p++) data[base + p] = 0.1 * rng.normal() - 0.2;
        for (let yy = y0; yy < y0 + 4; yy++) for (let xx = x; xx < x + 4; xx++) data[base + yy * SIZE + xx] = 1;
      }
    }
  }
  return { input: float32([b, T * 3, SIZE, SIZE], data), labels: hostTensor('int64', [b], labels) };
}

test('a tiny TSM trained from scratch learns the direction of motion (loss drops, accuracy rises)', async (t) => {
  const model = new TinyTsm().nameParameters();
  init(model, 5);
  const events: TrainEvent[] = [];
  const trainer = new Trainer(model, { lr: 0.1, lrSteps: [5], policies: 'single', partialBn: false, clipGradient: 20, threads: 1, onProgress: (e) => events.push(e) });
  const rng = makeRng(17);
  const epochs: { loss: number; top1: number }[] = [];
  for (let epoch = 0; epoch < 6; epoch++) {
    const batches = Array.from({ length: 12 }, () => makeBatch(rng, 8));
    epochs.push(await trainer.trainEpoch(epoch, batches));
  }
  t.diagnostic(`epoch loss ${epochs.map((e) => e.loss.toFixed(3)).join(' -> ')}; top-1 ${epochs.map((e) => e.top1.toFixed(0)).join(' -> ')}%`);
  assert.ok(epochs[5].loss < 0.3 * epochs[0].loss, `loss should drop clearly: ${epochs.map((e) => e.loss).join(', ')}`);
  assert.ok(epochs[5].top1 >= 95, `final epoch top-1 ${epochs[5].top1}%`);
  assert.deepEqual(
    events.filter((e) => e.status === 'epoch_start').map((e) => (e as { lr: number }).lr),
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.1 * 0.1],
    'step schedule at lrSteps [5]',
  );
  assert.equal(events.filter((e) => e.status === 'step').length, 72);
  assert.equal(Number((model.bn1.num_batches_tracked.tensor.data as BigInt64Array)[0]), 72);

  // Clips never seen in training: the accuracy of one more step is measured on its forward, before its update.
  const held = makeBatch(makeRng(99), 16);
  const before = (await trainer.trainEpoch(6, [held])).top1;
  t.diagnostic(`held-out batch top-1 (train-mode forward): ${before}%`);
  assert.ok(before >= 87.5, `held-out top-1 ${before}%`);

  // The checkpoint main.py writes: module.-prefixed keys and the optimizer state; it reads back.
  const ck = trainer.checkpoint(7, before);
  const { stateDict, meta } = extractStateDict(parsePth(encodePth(ck), 'tiny.pth'));
  assert.ok(stateDict.has('module.conv2.net.weight'));
  assert.equal(meta.epoch, 7);
  const opt = meta.optimizer as Map<string, PickleValue>;
  assert.equal((opt.get('state') as Map<number, PickleValue>).size, trainer.optimizer.params.length);
  await trainer.release();
});

test('without the shift the same network cannot tell the direction (control)', async (t) => {
  const model = new TinyTsm(1000).nameParameters();
  init(model, 5);
  const trainer = new Trainer(model, { lr: 0.1, lrSteps: [5], policies: 'single', partialBn: false, threads: 1 });
  const rng = makeRng(17);
  let last = { loss: 0, top1: 0 };
  for (let epoch = 0; epoch < 6; epoch++) last = await trainer.trainEpoch(epoch, Array.from({ length: 12 }, () => makeBatch(rng, 8)));
  await trainer.release();
  t.diagnostic(`no shift: final epoch loss ${last.loss.toFixed(3)}, top-1 ${last.top1.toFixed(0)}%`);
  assert.ok(last.loss > 0.5 && last.top1 < 80, `a frame-wise model should stay near chance: loss ${last.loss}, top-1 ${last.top1}%`);
});

test('accuracy: top-k precision in percent, k capped at the class count', () => {
  const logits = float32([3, 3], [0.1, 0.5, 0.2, 0.9, 0.0, 0.3, 0.2, 0.2, 0.1]);
  const labels = hostTensor('int64', [3], BigInt64Array.from([1n, 2n, 1n]));
  assert.equal(accuracy(logits, labels, 1), 100 / 3);
  assert.equal(accuracy(logits, labels, 2), 100);
  assert.equal(accuracy(logits, labels, 5), 100);
});
