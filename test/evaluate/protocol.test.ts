/**
 * The views `tsm test` feeds the model, checked pixel by pixel: frames whose pixels encode (x, y, frame number)
 * go through the same test set, loader and view split as `evaluate`, and every view must be the crop and the
 * frames test_models.py specifies (count, order, crop offsets, flips, clip indices).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { DataLoader, resolveDataset } from '../../src/data/index.js';
import { type ModelInput, type TestProtocol, clipsPerVideo, describeTestProtocol, openTestSet, resolveProtocol, splitViews, viewsPerVideo } from '../../src/evaluate/index.js';

const W = 40;
const H = 32; // the short side equals the scale size floor(28 * 256 / 224) = 32, so GroupScale keeps the pixels
const T = 3;
const VIDEOS = [
  { path: 'long', frames: 80 }, // more than 64 frames: dense windows really move
  { path: 'short', frames: 9 },
];
const input: ModelInput = { numSegments: T, newLength: 1, modality: 'RGB', inputSize: 28, normalize: { mean: [0], std: [1], div: false } };

let dir: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-views-'));
  for (const v of VIDEOS) {
    mkdirSync(join(dir, 'frames', v.path), { recursive: true });
    for (let n = 1; n <= v.frames; n++) {
      const px = Buffer.alloc(W * H * 3);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px.set([6 * x, 7 * y, 3 * n], (y * W + x) * 3);
      await sharp(px, { raw: { width: W, height: H, channels: 3 } }).png().toFile(join(dir, 'frames', v.path, `img_${String(n).padStart(5, '0')}.png`));
    }
  }
  writeFileSync(join(dir, 'list.txt'), VIDEOS.map((v, i) => `${v.path} ${v.frames} ${i}\n`).join(''));
  writeFileSync(join(dir, 'category.txt'), 'a\nb\n');
  writeFileSync(join(dir, 'dataset.json'), JSON.stringify({ name: 'coords', categories: 'category.txt', trainList: 'list.txt', valList: 'list.txt', root: 'frames', imageTmpl: 'img_{:05d}.png' }));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** [left, top, size, flipped] */
type Crop = readonly [number, number, number, boolean];

// test_models.py / ops/dataset.py `_get_test_indices`, written out by hand
const tick = (n: number) => n / T;
const centres = (n: number) => Array.from({ length: T }, (_, x) => Math.floor(tick(n) / 2 + tick(n) * x) + 1);
const starts = (n: number) => Array.from({ length: T }, (_, x) => Math.floor(tick(n) * x) + 1);
function dense(n: number): number[][] {
  const samplePos = Math.max(1, 1 + n - 64);
  const stride = Math.floor(64 / T);
  const begins = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => (k === 9 ? samplePos - 1 : Math.trunc((k * (samplePos - 1)) / 9)));
  return begins.map((s) => Array.from({ length: T }, (_, i) => ((i * stride + s) % n) + 1));
}

const plain = (xs: readonly [number, number][], size: number): Crop[] => xs.map(([l, t]) => [l, t, size, false] as const);
const withFlips = (xs: readonly [number, number][], size: number): Crop[] => xs.flatMap(([l, t]) => [[l, t, size, false], [l, t, size, true]] as const);

const CASES: readonly { protocol: TestProtocol; crops: Crop[]; clips: (n: number) => number[][] }[] = [
  { protocol: {}, crops: plain([[6, 2]], 28), clips: (n) => [centres(n)] },
  { protocol: { fullRes: true }, crops: plain([[4, 0]], 32), clips: (n) => [centres(n)] },
  { protocol: { testCrops: 3 }, crops: plain([[0, 2], [12, 2], [6, 2]], 28), clips: (n) => [centres(n)] },
  { protocol: { testCrops: 3, fullRes: true, twiceSample: true }, crops: plain([[0, 0], [8, 0], [4, 0]], 32), clips: (n) => [centres(n), starts(n)] },
  { protocol: { testCrops: 10 }, crops: withFlips([[0, 0], [12, 0], [0, 4], [12, 4], [6, 2]], 28), clips: (n) => [centres(n)] },
  { protocol: { testCrops: 1, denseSample: true }, crops: plain([[6, 2]], 28), clips: dense },
];

for (const { protocol, crops, clips } of CASES) {
  test(`views of ${describeTestProtocol(resolveProtocol(protocol), input)}: count, order, crops and frames as test_models.py`, async () => {
    const set = await openTestSet({ dataset: resolveDataset(dir, 'RGB'), input, protocol });
    const loader = await DataLoader.create(set.dataset, { batchSize: 2, numWorkers: 0 });
    const batches = [];
    for await (const b of loader.epoch(0)) batches.push(b);
    await loader.close();
    assert.equal(batches.length, 1);
    const views = viewsPerVideo(protocol);
    assert.equal(views, crops.length * clipsPerVideo(protocol), 'views = crops x clips');
    const size = crops[0][2];
    const x = splitViews(batches[0].input, views);
    assert.deepEqual(x.shape, [2 * views, T * 3, size, size]);
    const data = x.data as Float32Array;
    for (const [b, video] of VIDEOS.entries()) {
      const expectedClips = clips(video.frames);
      assert.equal(expectedClips.length, clipsPerVideo(protocol));
      for (let v = 0; v < views; v++) {
        // crop-major, as GroupOverSample/GroupFullResSample lay frames out: crop c holds every clip's frames
        const [left, top, , flipped]: Crop = crops[Math.floor(v / expectedClips.length)];
        const frames: number[] = expectedClips[v % expectedClips.length];
        for (let t = 0; t < T; t++) {
          for (let yy = 0; yy < size; yy++) {
            for (let xx = 0; xx < size; xx++) {
              const sx: number = left + (flipped ? size - 1 - xx : xx);
              const sy: number = top + yy;
              const at = (c: number) => data[((((b * views + v) * T + t) * 3 + c) * size + yy) * size + xx];
              if (at(0) !== 6 * sx || at(1) !== 7 * sy || at(2) !== 3 * frames[t]) {
                assert.fail(`video ${video.path} view ${v} segment ${t} pixel (${xx}, ${yy}): got RGB (${at(0)}, ${at(1)}, ${at(2)}), expected source (${sx}, ${sy}) of frame ${frames[t]}`);
              }
            }
          }
        }
      }
    }
  });
}

test('resolveProtocol: defaults, and the combinations test_models.py cannot run', () => {
  assert.deepEqual(resolveProtocol({}), { testCrops: 1, fullRes: false, twiceSample: false, denseSample: false, softmax: false });
  assert.throws(() => resolveProtocol({ testCrops: 4 as 3 }), /expected one of 1, 3, 5, 10 for testCrops but received 4/);
  assert.throws(() => resolveProtocol({ denseSample: true, twiceSample: true }), /: denseSample and twiceSample cannot be combined/);
  assert.equal(viewsPerVideo({ testCrops: 10, denseSample: true }), 100);
  assert.equal(viewsPerVideo({ testCrops: 3, twiceSample: true }), 6);
});
