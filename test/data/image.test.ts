/**
 * Image primitives the loader is built on: the fused crop + resize equals crop then resize, the fast JPEG path
 * stays within a few levels of the exact decode, and bad files fail with the file's name. (Exactness against PIL
 * itself is test/data/transforms-golden.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { DataError } from '../../src/errors.js';
import { cropImage, decodeImage, encodeJpeg, makeImage, resizeBilinear, type Image } from '../../src/data/image.js';
import { hasFastJpeg } from '../../src/data/jpeg.js';
import { RandomState } from '../../src/data/random.js';

function noisy(width: number, height: number, channels: 1 | 3, seed: number): Image {
  const rng = new RandomState(seed);
  const img = makeImage(width, height, channels);
  for (let i = 0; i < img.data.length; i++) img.data[i] = Math.floor(rng.random() * 256);
  return img;
}

test('resizeBilinear with a box gives the pixels of cropImage then resizeBilinear (shrink, enlarge, any channels)', () => {
  const cases = [
    { channels: 3, box: { x: 84, y: 0, w: 256, h: 256 }, size: [224, 224] }, // the training crop: 3 taps
    { channels: 3, box: { x: 10, y: 20, w: 168, h: 192 }, size: [224, 224] }, // enlarging
    { channels: 3, box: { x: 0, y: 0, w: 340, h: 256 }, size: [113, 85] }, // 3x shrink: the generic path
    { channels: 1, box: { x: 5, y: 7, w: 200, h: 150 }, size: [224, 100] }, // flow frames
    { channels: 3, box: { x: 30, y: 0, w: 224, h: 256 }, size: [224, 224] }, // width kept: crop, then vertical only
  ] as const;
  for (const [i, c] of cases.entries()) {
    const img = noisy(340, 256, c.channels, i);
    const { x, y, w, h } = c.box;
    const want = resizeBilinear(cropImage(img, x, y, w, h), c.size[0], c.size[1]);
    const got = resizeBilinear(img, c.size[0], c.size[1], c.box);
    assert.deepEqual([got.width, got.height, got.channels], [c.size[0], c.size[1], c.channels]);
    assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), `case ${i}: fused crop + resize differs`);
  }
  assert.throws(() => resizeBilinear(noisy(40, 30, 3, 9), 20, 20, { x: 30, y: 0, w: 20, h: 20 }), (e: unknown) => e instanceof DataError && /crop 20x20 at \(30, 0\) does not fit in a 40x30 image/.test(e.message));
});

test('resizing keeps a flat image flat and maps sizes exactly (no drift at the edges)', () => {
  const flat = makeImage(97, 61, 3);
  flat.data.fill(200);
  for (const [w, h] of [[224, 224], [31, 17], [97, 300]]) {
    const r = resizeBilinear(flat, w, h);
    assert.ok(r.data.every((v) => v === 200), `${w}x${h}: a flat 200 image stays 200`);
  }
});

test('fast JPEG decode: installed here, within a few levels of the exact decode; other formats and bad files as before', async () => {
  assert.equal(hasFastJpeg, true, '@julusian/jpeg-turbo (optional dependency) should load on linux-x64');
  const dir = mkdtempSync(join(tmpdir(), 'tsm-image-'));
  const src = noisy(340, 256, 3, 1);
  // smooth it so the JPEG looks like a frame, not noise
  const smooth = resizeBilinear(resizeBilinear(src, 85, 64), 340, 256);
  const jpg = join(dir, 'f.jpg');
  writeFileSync(jpg, await encodeJpeg(smooth, 90));
  const exact = await decodeImage(jpg);
  const fast = await decodeImage(jpg, 'RGB', { fast: true });
  let max = 0;
  let sum = 0;
  for (let i = 0; i < exact.data.length; i++) {
    const d = Math.abs(exact.data[i] - fast.data[i]);
    max = Math.max(max, d);
    sum += d;
  }
  assert.ok(max > 0, 'the fast path is in use (its IDCT differs from the exact one somewhere)');
  // measured here: max 3, mean 1.0 level (most pixels off by one: the fast IDCT rounds differently)
  assert.ok(max <= 8 && sum / exact.data.length <= 1.5, `fast decode max |diff| ${max}, mean ${sum / exact.data.length}`);
  const gray = await decodeImage(jpg, 'L', { fast: true });
  assert.equal(gray.channels, 1);

  const png = join(dir, 'f.png');
  await sharp(Buffer.from(smooth.data), { raw: { width: 340, height: 256, channels: 3 } }).png().toFile(png);
  assert.deepEqual((await decodeImage(png, 'RGB', { fast: true })).data, smooth.data, 'PNG falls back to the exact decoder');

  const truncated = join(dir, 'cut.jpg');
  const bytes = await encodeJpeg(smooth, 90);
  writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
  for (const fastFlag of [true, false]) {
    await assert.rejects(decodeImage(truncated, 'RGB', { fast: fastFlag }), (e: unknown) => e instanceof DataError && e.message.includes(truncated) && !/No error/.test(e.message));
    await assert.rejects(decodeImage(join(dir, 'nope.jpg'), 'RGB', { fast: fastFlag }), (e: unknown) => e instanceof DataError && /nope\.jpg: the file does not exist/.test(e.message));
  }
});
