/**
 * int8 TSM-MobileNetV2 and TSM-ResNet-50 (the golden fixtures' checkpoints, 8 segments at 112): calibrated on
 * synthetic clips, tested on other synthetic clips and the fixture's own input. Their top-1 agrees with float32 on
 * at least 95% of the inputs, and every input's logits have a cosine similarity of at least 0.99 with float32's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { makeSyntheticDataset } from '../../src/data/index.js';
import { buildClipExportGraph } from '../../src/deploy/export.js';
import { encodeOnnx } from '../../src/graph/index.js';
import { loadTsnCheckpoint } from '../../src/models/load.js';
import { analyseQdq, collectStats, foldBatchNorm, insertQdq, openCalibrationSet, rangesFrom } from '../../src/quantize/index.js';
import { createSession } from '../../src/runtime/index.js';
import { type HostTensor, hostTensor } from '../../src/tensor/index.js';
import { fixtureCase, fixtureNpy, fixturePath } from '../helpers/fixtures.js';

interface TsnFixture {
  readonly constructor_args: { base_model: string; num_segments: number; shift_div: number; shift_place: 'blockres' | 'block' };
  readonly files: { input: string; checkpoint_zip: string };
  readonly input_shape: readonly number[];
}

let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-quantize-fixtures-'));
  // 128 px frames: the test crop of a 112 model is a 128 resize and a centre crop
  await makeSyntheticDataset(join(dir, 'calibration'), { clips: 2, size: 128, frames: 16, seed: 1, valFraction: 0 });
  await makeSyntheticDataset(join(dir, 'test'), { clips: 10, size: 128, frames: 16, seed: 2, valFraction: 0 });
});

/** Clips of a synthetic set as `[1, 24, 112, 112]` model inputs. */
async function clips(path: string, count: number): Promise<HostTensor<'float32'>[]> {
  const set = await openCalibrationSet({ path, clips: count, segments: 8, preprocessing: { inputSize: [112, 112], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } });
  const out: HostTensor<'float32'>[] = [];
  for await (const c of set.read()) out.push(hostTensor('float32', [1, ...c.input.shape], c.input.data));
  return out;
}

const cosine = (a: Float32Array, b: Float32Array): number => {
  let d = 0;
  let na = 0;
  let nb = 0;
  a.forEach((v, i) => {
    d += v * b[i];
    na += v * v;
    nb += b[i] * b[i];
  });
  return d / Math.sqrt(na * nb);
};
const argmax = (v: Float32Array): number => v.indexOf(Math.max(...v));

for (const [name, calibrationClips, testClips] of [['tsm_mobilenetv2', 16, 78], ['tsm_resnet50', 4, 9]] as const) {
  test(`${name}: int8 top-1 agrees with float32 on >= 95% of the inputs, logits cosine >= 0.99`, async () => {
    const fx = fixtureCase(name) as unknown as TsnFixture;
    const a = fx.constructor_args;
    const { model } = await loadTsnCheckpoint(fixturePath(fx.files.checkpoint_zip), { numSegments: a.num_segments, isShift: true, shiftDiv: a.shift_div, shiftPlace: a.shift_place });
    const folded = foldBatchNorm(buildClipExportGraph(model, { inputSize: 112 }).graph);
    const analysis = analyseQdq(folded);
    const calibration = await clips(join(dir, 'calibration'), calibrationClips);
    async function* steps() {
      for (const c of calibration) yield [c];
    }
    const stats = await collectStats(folded, analysis.calibrate, steps(), { inputName: 'input', threads: 2, histograms: false });
    const int8 = insertQdq(folded, rangesFrom(stats, 'minmax'));
    // the fixture's own input (N(0, 1) noise, batch of 1 or 2) and held-out synthetic clips
    const x = (await fixtureNpy(fx.files.input)) as HostTensor<'float32'>;
    const [b, c, h, w] = x.shape;
    const inputs = [...Array.from({ length: b }, (_, i) => hostTensor('float32', [1, c, h, w], x.data.slice(i * c * h * w, (i + 1) * c * h * w))), ...(await clips(join(dir, 'test'), testClips))];
    const [f, q] = await Promise.all([createSession(encodeOnnx(folded), { threads: 2 }), createSession(encodeOnnx(int8), { threads: 2 })]);
    let agree = 0;
    let worst = 1;
    for (const input of inputs) {
      const y = (await f.run({ input })).logits.data as Float32Array;
      const yq = (await q.run({ input })).logits.data as Float32Array;
      if (argmax(y) === argmax(yq)) agree++;
      else if (process.env.TSM_REPORT_ERRORS) console.log(`${name}: input ${inputs.indexOf(input)} disagrees`);
      worst = Math.min(worst, cosine(y, yq));
    }
    if (process.env.TSM_REPORT_ERRORS) console.log(`${name}: top-1 agrees on ${agree}/${inputs.length}, lowest cosine ${worst}`);
    assert.ok(agree >= 0.95 * inputs.length, `${name}: int8 top-1 agrees with float32 on ${agree} of ${inputs.length} inputs`);
    assert.ok(worst >= 0.99, `${name}: lowest logits cosine ${worst}`);
  });
}
