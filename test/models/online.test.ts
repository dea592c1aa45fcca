import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pyFloat, writePth } from '../../src/checkpoint/index.js';
import { CheckpointError, ShapeError } from '../../src/errors.js';
import { OnlineRecognizer, loadOnlineMobileNetV2, onlineMobileNetV2FromStateDict } from '../../src/models/online.js';
import { OnlineMobileNetV2 } from '../../src/models/online-mobilenet-v2.js';
import { type HostTensor, float32 } from '../../src/tensor/index.js';
import { assertClose, maxAbsDiff } from '../helpers/assert-close.js';
import { fixtureCase, fixtureNpy, fixturePath } from '../helpers/fixtures.js';

const fx = fixtureCase('online_mobilenetv2');
const files = fx.files as { state_dict: string; steps: { input: string; logits: string; out_buffers: string[] }[] };
const tol = fx.tolerance as { atol: number; rtol: number };
const [, , H, W] = fx.input_shape as number[];

test('OnlineRecognizer reproduces the fixture logits and all ten out buffers for steps 0..2, and again after reset()', async (t) => {
  const { model, layout } = await loadOnlineMobileNetV2(fixturePath(files.state_dict));
  assert.equal(layout, 'online');
  assert.equal(model.numClasses, (fx.output_shape as number[])[1]);
  const rec = await OnlineRecognizer.create(model, { inputSize: [H, W], threads: 1 });
  assert.deepEqual(rec.bufferShapes, fx.initial_buffer_shapes);
  let worstLogits = 0;
  let worstBuffers = 0;
  for (const round of [0, 1]) {
    for (const [i, step] of files.steps.entries()) {
      const logits = await rec.step(await fixtureNpy(step.input));
      const expected = await fixtureNpy(step.logits);
      assert.deepEqual(logits.shape, expected.shape);
      assertClose(logits.data as Float32Array, expected.data as Float32Array, { ...tol, what: `round ${round} step ${i} logits` });
      worstLogits = Math.max(worstLogits, maxAbsDiff(logits.data as Float32Array, expected.data as Float32Array));
      for (const [b, file] of step.out_buffers.entries()) {
        const want = await fixtureNpy(file);
        assert.deepEqual(rec.buffers[b].shape, want.shape);
        assertClose(rec.buffers[b].data as Float32Array, want.data as Float32Array, { ...tol, what: `round ${round} step ${i} buffer ${b}` });
        worstBuffers = Math.max(worstBuffers, maxAbsDiff(rec.buffers[b].data as Float32Array, want.data as Float32Array));
      }
    }
    assert.equal(rec.steps, files.steps.length);
    rec.reset();
    assert.equal(rec.steps, 0);
    assert.ok(rec.buffers.every((b) => (b.data as Float32Array).every((v) => v === 0)));
  }
  t.diagnostic(`max |diff| logits ${worstLogits.toExponential(2)}, buffers ${worstBuffers.toExponential(2)} (atol ${tol.atol})`);
  await rec.release();
});

test('steps called without awaiting run in order; stepAll matches step-by-step', async () => {
  const { model } = await loadOnlineMobileNetV2(fixturePath(files.state_dict));
  const rec = await OnlineRecognizer.create(model, { inputSize: [H, W], threads: 1 });
  const inputs = await Promise.all(files.steps.map((s) => fixtureNpy(s.input)));
  const concurrent = await Promise.all(inputs.map((x) => rec.step(x)));
  for (const [i, step] of files.steps.entries()) {
    assertClose(concurrent[i].data as Float32Array, (await fixtureNpy(step.logits)).data as Float32Array, { ...tol, what: `step ${i}` });
  }
  rec.reset();
  const stacked = float32([inputs.length, 1, 3, H, W]);
  inputs.forEach((x, i) => (stacked.data as Float32Array).set(x.data as Float32Array, i * 3 * H * W));
  const all = await rec.stepAll(stacked);
  assert.deepEqual(all.shape, [inputs.length, model.numClasses]);
  concurrent.forEach((l, i) => assertClose((all.data as Float32Array).subarray(i * 27, (i + 1) * 27), l.data as Float32Array, { atol: 0, rtol: 0 }));
  await assert.rejects(rec.step(float32([1, 3, H + 1, W])), (e: unknown) => e instanceof ShapeError && /expected \[1,3,112,112\]/.test(e.message));
  await rec.release();
});

test('a TSN-layout state dict loads into the online model with the same weights', async () => {
  const { model } = await loadOnlineMobileNetV2(fixturePath(files.state_dict));
  const sd = model.stateDict();
  const tsn = new Map<string, HostTensor>();
  for (const [k, t] of sd) {
    if (k.startsWith('classifier.')) tsn.set(`module.new_fc.${k.slice(11)}`, t);
    else if (/^features\.(3|5|6|8|9|10|12|13|15|16)\.conv\.0\./.test(k)) tsn.set(`module.base_model.${k.replace('.conv.0.', '.conv.0.net.')}`, t);
    else tsn.set(`module.base_model.${k}`, t);
  }
  const loaded = onlineMobileNetV2FromStateDict(tsn, { source: 'tsm_mobilenetv2.pth' });
  assert.equal(loaded.layout, 'tsn');
  assert.equal(loaded.model.numClasses, 27);
  for (const [k, t] of loaded.model.stateDict()) assert.equal(t, sd.get(k), k);
  // Checkpoints from before PyTorch 0.4.1 lack num_batches_tracked: still accepted.
  const old = new Map([...tsn].filter(([k]) => !k.endsWith('num_batches_tracked')));
  assert.equal(onlineMobileNetV2FromStateDict(old).model.numClasses, 27);
  // As main.py saves it: {'epoch', 'arch', 'state_dict', 'best_prec1'} around the DataParallel state dict.
  const dir = mkdtempSync(join(tmpdir(), 'tsm-online-tsn-'));
  try {
    const file = join(dir, 'TSM_jester_RGB_mobilenetv2_shift8_blockres_avg_segment8_e25.pth');
    await writePth(file, { stateDict: tsn, meta: { epoch: 25, arch: 'mobilenetv2', best_prec1: pyFloat(90.5) } });
    const fromFile = await loadOnlineMobileNetV2(file);
    assert.equal(fromFile.layout, 'tsn');
    for (const [k, t] of fromFile.model.stateDict()) assert.deepEqual(t.data, sd.get(k)!.data, k);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkpoint that is not a MobileNetV2 is refused with the keys named', () => {
  const sd = new Map([['fc.weight', float32([10, 2048])]]);
  assert.throws(() => onlineMobileNetV2FromStateDict(sd, { source: 'r50.pth' }), (e: unknown) => e instanceof CheckpointError && /no classifier weight in r50\.pth/.test(e.message));
  const wrongWidth = new OnlineMobileNetV2({ numClasses: 4, widthMult: 1.4 }).nameParameters().stateDict();
  assert.throws(() => onlineMobileNetV2FromStateDict(wrongWidth, { widthMult: 1 }), (e: unknown) => e instanceof CheckpointError && e.code === 'TSM_CHECKPOINT_SHAPE');
  assert.equal(onlineMobileNetV2FromStateDict(wrongWidth).model.widthMult, 1.4, 'without widthMult the block widths decide');
});
