import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cropWindow, normalizeFrame, roundHalfEven, scaledSize } from '../../src/deploy/preprocess.js';
import { ShapeError } from '../../src/errors.js';
import { assertClose } from '../helpers/assert-close.js';

const PREP = { inputSize: [224, 224] as const, scaleSize: 256, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

test('scaledSize and roundHalfEven follow torchvision Resize(int) and Python round', () => {
  assert.deepEqual(scaledSize(320, 240, 256), { width: 341, height: 256 });
  assert.deepEqual(scaledSize(240, 320, 256), { width: 256, height: 341 });
  assert.deepEqual([0.5, 1.5, 2.5, 58.5, -0.5, 2.4].map(roundHalfEven), [0, 2, 2, 58, -0, 2]);
});

test('cropWindow: GroupScale(256) + GroupCenterCrop(224) of a 320x240 webcam frame, in source pixels', () => {
  // resized to 341x256; crop offsets round((341-224)/2) = round(58.5) = 58 and (256-224)/2 = 16
  const w = cropWindow(320, 240, PREP);
  const f = 240 / 256;
  assertClose([w.sx, w.sy, w.sw, w.sh], [58 * (320 / 341), 16 * f, 224 * (320 / 341), 224 * f], { atol: 1e-9, rtol: 0 });
  // a square frame keeps the middle 224/256
  const s = cropWindow(512, 512, PREP);
  assert.deepEqual(s, { sx: 32, sy: 32, sw: 448, sh: 448 });
});

test('cropWindow rejects empty frames and crops larger than the resized frame', () => {
  assert.throws(() => cropWindow(0, 0, PREP), /no picture yet/);
  assert.throws(() => cropWindow(640, 480, { inputSize: [300, 300], scaleSize: 256 }), ShapeError);
});

test('normalizeFrame: RGBA/RGB bytes to normalized CHW floats', () => {
  // 2x1 image: pixel 0 = (255, 0, 128, alpha), pixel 1 = (10, 20, 30, alpha)
  const rgba = Uint8ClampedArray.from([255, 0, 128, 255, 10, 20, 30, 7]);
  const out = normalizeFrame(rgba, 2, 1, 4, PREP);
  const expected = [255, 10, 0, 20, 128, 30].map((v, i) => {
    const c = Math.floor(i / 2);
    return (v / 255 - PREP.mean[c]) / PREP.std[c];
  });
  assertClose(out, expected, { atol: 1e-6, rtol: 0 });
  const rgb = normalizeFrame(Uint8Array.from([255, 0, 128, 10, 20, 30]), 2, 1, 3, PREP, new Float32Array(6));
  assertClose(rgb, expected, { atol: 1e-6, rtol: 0 });
  // BNInception-style: 0-255 range, no division by 255
  const raw = normalizeFrame(Uint8Array.from([104, 117, 128]), 1, 1, 3, { mean: [104, 117, 128], std: [1, 1, 1], inputRange: 255 });
  assertClose(raw, [0, 0, 0], { atol: 1e-4, rtol: 0 });
  assert.throws(() => normalizeFrame(rgba, 3, 1, 4, PREP), /8 bytes, expected 12/);
});
