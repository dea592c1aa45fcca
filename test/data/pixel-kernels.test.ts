/**
 * The WebAssembly SIMD kernels give the same bytes and floats as the JS loops they replace, over the shapes the
 * loader meets (shrinking and enlarging, crops, odd sizes, 2- to 5-tap filters, BGR and undivided normalisation),
 * and the committed .wasm is the assembled .wat.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { assemble } from '../../scripts/build-wasm.mjs';
import { makeImage, resizeBilinear, type Image, type Region } from '../../src/data/image.js';
import { setSimdKernels, simdKernelsEnabled } from '../../src/data/pixel-kernels.js';
import { RandomState } from '../../src/data/random.js';
import { normalizationFor, normalizeInto, type NormalizeSpec } from '../../src/data/transforms.js';

function noisy(width: number, height: number, seed: number): Image {
  const rng = new RandomState(seed);
  const img = makeImage(width, height, 3);
  for (let i = 0; i < img.data.length; i++) img.data[i] = Math.floor(rng.random() * 256);
  return img;
}

/** Runs `fn` with the SIMD kernels on, then off, and returns both results. */
function bothWays<T>(fn: () => T): { simd: T; js: T } {
  const was = setSimdKernels(true);
  try {
    assert.equal(simdKernelsEnabled(), true, 'the SIMD kernels load on Node 20');
    const simd = fn();
    setSimdKernels(false);
    return { simd, js: fn() };
  } finally {
    setSimdKernels(was);
  }
}

test('pixel-kernels.wasm is the assembled pixel-kernels.wat', async () => {
  const wat = new URL('../../src/data/pixel-kernels.wat', import.meta.url);
  const built = await assemble(wat.pathname);
  assert.ok(Buffer.compare(built, readFileSync(new URL('../../src/data/pixel-kernels.wasm', import.meta.url))) === 0, 'stale .wasm: run node scripts/build-wasm.mjs');
});

test('SIMD resize equals the JS resize byte for byte', () => {
  const cases: { w: number; h: number; box?: Region; out: [number, number] }[] = [
    { w: 340, h: 256, box: { x: 84, y: 0, w: 256, h: 256 }, out: [224, 224] }, // training crop
    { w: 340, h: 256, box: { x: 43, y: 16, w: 168, h: 192 }, out: [224, 224] }, // enlarging
    { w: 340, h: 256, box: { x: 74, y: 16, w: 224, h: 192 }, out: [224, 224] }, // vertical only, inside wider rows
    { w: 340, h: 256, box: { x: 10, y: 3, w: 256, h: 224 }, out: [224, 224] }, // horizontal only
    { w: 340, h: 256, out: [298, 224] }, // GroupScale-like
    { w: 480, h: 360, out: [341, 256] }, // 1.4x: 4-tap windows
    { w: 640, h: 480, out: [171, 128] }, // 3.75x: wide windows, JS horizontal, SIMD vertical
    { w: 37, h: 29, out: [53, 41] }, // odd sizes, rows not a multiple of 16 bytes
    { w: 9, h: 7, out: [5, 11] }, // rows under 16 bytes: JS
    { w: 3, h: 40, out: [2, 17] },
  ];
  for (const [i, c] of cases.entries()) {
    const img = noisy(c.w, c.h, i);
    const { simd, js } = bothWays(() => resizeBilinear(img, c.out[0], c.out[1], c.box));
    assert.deepEqual([simd.width, simd.height], c.out);
    assert.ok(Buffer.from(simd.data).equals(Buffer.from(js.data)), `case ${i} (${JSON.stringify(c)}): SIMD and JS differ`);
  }
});

test('SIMD normalisation equals the JS lookup tables float for float (RGB, BGR, undivided, odd pixel counts)', () => {
  const specs: NormalizeSpec[] = [normalizationFor('RGB'), { ...normalizationFor('RGB'), roll: true }, { mean: [104, 117, 128], std: [1, 1, 1], div: false, roll: true }];
  for (const [w, h] of [[224, 224], [5, 3], [2, 2], [1, 3]]) {
    for (const [k, spec] of specs.entries()) {
      const group = [noisy(w, h, 10 + k), noisy(w, h, 20 + k)];
      const n = 2 * 3 * w * h;
      const { simd, js } = bothWays(() => {
        const out = new Float32Array(n + 7).fill(-9);
        normalizeInto(group, spec, out, 7);
        return out;
      });
      assert.deepEqual(simd, js, `${w}x${h}, spec ${k}`);
    }
  }
  // every byte value, through both paths
  const all = makeImage(256, 1, 3);
  for (let i = 0; i < 256; i++) all.data.fill(i, 3 * i, 3 * i + 3);
  const { simd, js } = bothWays(() => {
    const out = new Float32Array(3 * 256);
    normalizeInto([all], normalizationFor('RGB'), out);
    return out;
  });
  assert.deepEqual(simd, js);
});
