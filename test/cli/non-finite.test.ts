/**
 * NaN and infinite values pass through onnxruntime without an error, so `tsm infer`, `tsm infer-online` and
 * `tsm predict` say on stderr how many there are in the user's input and in the logits they write (exit 0: the
 * output is written as computed).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { extractStateDict, readNpy, readPth, writeNpy, writePth } from '../../src/checkpoint/index.js';
import { nonFiniteWarning } from '../../src/cli/commands/non-finite.js';
import { countNonFinite, float32, hostTensor } from '../../src/tensor/index.js';
import { fixtureCase, fixtureNpy, fixturePath } from '../helpers/fixtures.js';
import { runTsm } from '../helpers/tsm-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tsm-non-finite-'));
after(() => rmSync(dir, { recursive: true, force: true }));


const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('countNonFinite and the warning text: float16 bits, float32, float64, integers', () => {
  assert.deepEqual(countNonFinite(float32([5], [1, NaN, -Infinity, Infinity, -0])), { nan: 1, inf: 2 });
  assert.deepEqual(countNonFinite(hostTensor('float64', [3], Float64Array.from([NaN, NaN, 2]))), { nan: 2, inf: 0 });
  // float16: 0x7c00 +Inf, 0xfc00 -Inf, 0x7e00 NaN, 0x7bff the largest finite half, 0x3c00 one
  assert.deepEqual(countNonFinite(hostTensor('float16', [5], Uint16Array.from([0x7c00, 0xfc00, 0x7e00, 0x7bff, 0x3c00]))), { nan: 1, inf: 2 });
  assert.deepEqual(countNonFinite(hostTensor('int32', [2], Int32Array.from([1, 2]))), { nan: 0, inf: 0 });
  assert.equal(nonFiniteWarning('x', float32([2, 2], [1, 2, 3, 4])), undefined);
  assert.equal(nonFiniteWarning('--input x.npy', float32([3, 2], [1, NaN, 3, 4, Infinity, NaN]), 'clip'), '--input x.npy: 2 NaN and 1 infinite of 6 values, in 2 of 3 clips');
});

test('tsm infer, infer-online and predict warn about NaN / Inf in the input and the logits', async () => {
  // infer: the fixture's two clips, with 3 NaN and 2 Inf in the second
  const tsmFx = fixtureCase('tsm_mobilenetv2').files as { checkpoint_zip: string; input: string };
  const x = await fixtureNpy(tsmFx.input);
  const xd = x.data as Float32Array;
  const half = xd.length / 2;
  for (const k of [0, 1000, 5000]) xd[half + k] = NaN;
  for (const k of [7, 9000]) xd[half + k] = k === 7 ? Infinity : -Infinity;
  const inputPath = join(dir, 'x.npy');
  const inferOut = join(dir, 'y.npy');
  await writeNpy(inputPath, x);

  // infer-online: two frames, the first with one NaN (the shift buffers carry it into the second)
  const onFx = fixtureCase('online_mobilenetv2').files as { state_dict: string; steps: { input: string }[] };
  const frame = (await fixtureNpy(onFx.steps[0].input)).data as Float32Array;
  const frames = float32([2, 1, ...fixtureCase('online_mobilenetv2').input_shape as number[]].filter((_, i) => i !== 2));
  frames.data.set(frame, 0);
  frames.data.set(frame, frame.length);
  frames.data[10] = NaN;
  const framesPath = join(dir, 'frames.npy');
  const onlineOut = join(dir, 'online.npy');
  await writeNpy(framesPath, frames);

  // predict: finite frames, but a checkpoint whose classifier bias holds a NaN
  const ckpt = await readPth(fixturePath(tsmFx.checkpoint_zip));
  const { stateDict } = extractStateDict(ckpt);
  const bias = stateDict.get('module.new_fc.bias');
  assert.ok(bias, 'the fixture checkpoint has module.new_fc.bias');
  (bias.data as Float32Array)[3] = NaN;
  const badWeights = join(dir, 'TSM_jester_RGB_mobilenetv2_shift8_blockres_avg_segment8_e1.pth');
  await writePth(badWeights, { stateDict });
  const clip = join(dir, 'clip');
  mkdirSync(clip);
  for (let i = 1; i <= 8; i++) {
    await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 30 * i, g: 100, b: 200 } } }).jpeg().toFile(join(clip, `img_${String(i).padStart(5, '0')}.jpg`));
  }

  const [inf, onl, pred] = await Promise.all([
    runTsm(['infer', '--weights', fixturePath(tsmFx.checkpoint_zip), '--input', inputPath, '--output', inferOut, '--segments', '8', '--shift-div', '8']),
    runTsm(['infer-online', '--weights', fixturePath(onFx.state_dict), '--frames', framesPath, '--output', onlineOut]),
    runTsm(['predict', clip, '--weights', badWeights, '--input-size', '32']),
  ]);

  assert.equal(inf.status, 0, inf.stderr);
  assert.match(inf.stderr, new RegExp(`^warning: --input ${esc(inputPath)}: 3 NaN and 2 infinite of ${xd.length} values, in 1 of 2 clips$`, 'm'));
  const y = await readNpy(inferOut);
  const yNaN = countNonFinite(y);
  assert.ok(yNaN.nan > 0, 'the second clip gives NaN logits');
  assert.ok((y.data as Float32Array).subarray(0, 27).every(Number.isFinite), 'the first clip stays finite');
  assert.match(inf.stderr, new RegExp(`^warning: the logits written to ${esc(inferOut)}: ${yNaN.nan} NaN${yNaN.inf > 0 ? ` and ${yNaN.inf} infinite` : ''} of 54 values, in 1 of 2 clips$`, 'm'));

  assert.equal(onl.status, 0, onl.stderr);
  assert.match(onl.stderr, new RegExp(`^warning: --frames ${esc(framesPath)}: 1 NaN of ${frames.data.length} values, in 1 of 2 frames$`, 'm'));
  assert.match(onl.stderr, new RegExp(`^warning: the logits written to ${esc(onlineOut)}: \\d+ NaN of 54 values, in [12] of 2 frames$`, 'm'));

  assert.equal(pred.status, 0, pred.stderr);
  assert.match(pred.stderr, new RegExp(`^warning: the probabilities of 1 of 1 input\\(s\\) are not numbers \\(${esc(clip)}\\); the checkpoint ${esc(badWeights)} may hold NaN or infinite weights$`, 'm'));
});
