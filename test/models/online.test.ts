import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pyFloat, writePth } from '../../src/checkpoint/index.js';
import { CheckpointError, ShapeError } from '../../src/errors.js';
import { openOnlineModel } from '../../src/deploy/live.js';
import { loadOnlineMobileNetV2, onlineMobileNetV2FromStateDict } from '../../src/models/online.js';
import { OnlineMobileNetV2 } from '../../src/models/online-mobilenet-v2.js';
import { type HostTensor, float32 } from '../../src/tensor/index.js';
import { assertClose, maxAbsDiff } from '../helpers/assert-close.js';
import { fixtureCase, fixtureNpy, fixturePath } from '../helpers/fixtures.js';

const fx = fixtureCase('online_mobilenetv2');
const files = fx.files as { state_dict: string; steps: { input: string; logits: string; out_buffers: string[] }[] };
// the fixture manifest's tolerance for |ours - PyTorch fp32|, kept as the manifest gives it (checked on AVX2 and AVX-512)
const tol = fx.tolerance as { atol: number; rtol: number };
const [, , H, W] = fx.input_shape as number[];

test('the online model, stepped through openOnlineModel, reproduces the fixture logits and all ten out buffers for steps 0..2, and again after reset()', async (t) => {
  const { model, layout } = await loadOnlineMobileNetV2(fixturePath(files.state_dict));
  assert.equal(layout, 'online');
  assert.equal(model.numClasses, (fx.output_shape as number[])[1]);
  const live = await openOnlineModel({ network: model, inputSize: [H, W], threads: 1 });
  const { stepper } = live;
  assert.deepEqual(stepper.buffers.map((b) => b.dims), fx.initial_buffer_shapes);
  let worstLogits = 0;
  let worstBuffers = 0;
  for (const round of [0, 1]) {
    for (const [i, step] of files.steps.entries()) {
      const logits = await stepper.step((await fixtureNpy(step.input)).data as Float32Array);
      const expected = await fixtureNpy(step.logits);
      assert.equal(logits.length, expected.data.length);
      assertClose(logits, expected.data as Float32Array, { ...tol, what: `round ${round} step ${i} logits` });
      worstLogits = Math.max(worstLogits, maxAbsDiff(logits, expected.data as Float32Array));
      for (const [b, file] of step.out_buffers.entries()) {
        const want = await fixtureNpy(file);
        assert.deepEqual(stepper.buffers[b].dims, want.shape);
        assertClose(stepper.buffers[b].data, want.data as Float32Array, { ...tol, what: `round ${round} step ${i} buffer ${b}` });
        worstBuffers = Math.max(worstBuffers, maxAbsDiff(stepper.buffers[b].data, want.data as Float32Array));
      }
    }
    assert.equal(stepper.steps, files.steps.length);
    stepper.reset();
    assert.equal(stepper.steps, 0);
    assert.ok(stepper.buffers.every((b) => b.data.every((v) => v === 0)));
  }
  t.diagnostic(`max |diff| logits ${worstLogits.toExponential(2)}, buffers ${worstBuffers.toExponential(2)} (atol ${tol.atol})`);
  await live.release();
});

test('steps called without awaiting run in order, and a frame of the wrong size is refused', async () => {
  const { model } = await loadOnlineMobileNetV2(fixturePath(files.state_dict));
  const live = await openOnlineModel({ network: model, inputSize: [H, W], threads: 1 });
  const inputs = await Promise.all(files.steps.map(async (s) => (await fixtureNpy(s.input)).data as Float32Array));
  const concurrent = await Promise.all(inputs.map((x) => live.stepper.step(x)));
  for (const [i, step] of files.steps.entries()) {
    assertClose(concurrent[i], (await fixtureNpy(step.logits)).data as Float32Array, { ...tol, what: `step ${i}` });
  }
  await assert.rejects(live.stepper.step(new Float32Array(3 * (H + 1) * W)), (e: unknown) => e instanceof ShapeError && /expected 37632 \(3x112x112\)/.test(e.message));
  assert.equal(live.stepper.steps, files.steps.length, 'a refused frame does not count as a step');
  await live.release();
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
