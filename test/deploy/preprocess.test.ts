import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cropWindow, normalizeFrame, roundHalfEven, scaledSize } from '../../src/deploy/preprocess.js';
import { ShapeError } from '../../src/errors.js';
import { assertWithin } from '../helpers/assert-close.js';
import { U32, U64, gamma } from '../helpers/fp32-bounds.js';

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
  const want = [58 * (320 / 341), 16 * f, 224 * (320 / 341), 224 * f];
  // a division and a product in float64 on each side, in whatever order
  assertWithin([w.sx, w.sy, w.sw, w.sh], want, want.map((v) => 2 * gamma(2, U64) * v));
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
  const pixels = [255, 10, 0, 20, 128, 30];
  const expected = pixels.map((v, i) => {
    const c = Math.floor(i / 2);
    return (v / 255 - PREP.mean[c]) / PREP.std[c];
  });
  // ours: v * scale + shift in float64 (scale and shift a few roundings each), stored as float32 (u |y|); the
  // reference's three float64 roundings
  const bound = pixels.map((v, i) => {
    const c = Math.floor(i / 2);
    return U32 * Math.abs(expected[i]) + gamma(8, U64) * (v / 255 + PREP.mean[c]) / PREP.std[c];
  });
  assertWithin(out, expected, bound, 'RGBA');
  const rgb = normalizeFrame(Uint8Array.from([255, 0, 128, 10, 20, 30]), 2, 1, 3, PREP, new Float32Array(6));
  assertWithin(rgb, expected, bound, 'RGB');
  // BNInception-style: 0-255 range, no division by 255: v * 1 - v, exact
  const raw = normalizeFrame(Uint8Array.from([104, 117, 128]), 1, 1, 3, { mean: [104, 117, 128], std: [1, 1, 1], inputRange: 255 });
  assertWithin(raw, [0, 0, 0], 0, '0-255 range');
  assert.throws(() => normalizeFrame(rgba, 3, 1, 4, PREP), /8 bytes, expected 12/);
});
