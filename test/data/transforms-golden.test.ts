/**
 * Golden test: our preprocessing (libjpeg-turbo or sharp decode, JS port of Pillow's bilinear resize, JS crops,
 * flips, normalisation) against PIL + torchvision running the original's transform semantics on the same JPEGs
 * (written by this test). Every step is exact, so the tensors must be equal up to float32 rounding of the
 * normalisation (far below one level of 255, which is 1 / 255 / 0.225 = 0.0174 after normalisation).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readNpy } from '../../src/checkpoint/npy.js';
import { decodeImage, encodeJpeg, makeImage, type Image } from '../../src/data/image.js';
import { RandomState } from '../../src/data/random.js';
import { GroupCenterCrop, GroupMultiScaleCrop, GroupOverSample, GroupScale, groupToTensor, normalizationFor } from '../../src/data/transforms.js';
import { flipImage, invertImage, cropImage, resizeBilinear } from '../../src/data/image.js';

const PYTHON = '/usr/bin/python3'; // Debian's python with torch/torchvision/PIL (the first python3 on PATH has no torch)
const LEVEL = 1 / 255 / 0.225;

/** A smooth pattern plus noise, so resampling differences show. */
function testImage(width: number, height: number, seed: number, channels: 1 | 3 = 3): Image {
  const rng = new RandomState(seed);
  const img = makeImage(width, height, channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < channels; k++) {
        const v = 128 + 90 * Math.sin((x + 13 * k + seed) / (7 + k)) * Math.cos(y / (9 + 2 * k)) + (rng.random() - 0.5) * 40;
        img.data[(y * width + x) * channels + k] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return img;
}

function diffStats(a: Float32Array, b: ArrayLike<number>): { max: number; mean: number } {
  assert.equal(a.length, b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

test('preprocessed tensors equal PIL/torchvision\'s: decode, shrinking and enlarging resize, crops, flips, normalisation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-golden-'));
  const write = async (name: string, img: Image): Promise<string> => {
    const p = join(dir, name);
    writeFileSync(p, await encodeJpeg(img, 92));
    return p;
  };
  const landscape = await Promise.all([0, 1, 2].map((i) => write(`l${i}.jpg`, testImage(340, 256, i))));
  const portrait = await Promise.all([0, 1].map((i) => write(`p${i}.jpg`, testImage(240, 320, 10 + i))));
  const large = await Promise.all([0, 1].map((i) => write(`b${i}.jpg`, testImage(480, 360, 30 + i))));
  const flow = await Promise.all([0, 1, 2, 3].map((i) => write(`f${i}.jpg`, testImage(320, 240, 20 + i, 1))));

  const decode = (files: string[], mode: 'RGB' | 'L' = 'RGB'): Promise<Image[]> => Promise.all(files.map((f) => decodeImage(f, mode)));
  const rgb = normalizationFor('RGB');
  const ours: Record<string, Float32Array> = {};
  const cases: Record<string, unknown>[] = [];

  // validation: GroupScale(256) + GroupCenterCrop(224), landscape and portrait
  for (const [name, files] of [['val_l', landscape], ['val_p', portrait], ['val_big', large]] as const) {
    const g = await new GroupCenterCrop(224).apply(await new GroupScale(256).apply(await decode(files)));
    ours[name] = groupToTensor(g, rgb).data;
    cases.push({ kind: 'val', files, scale: 256, crop: 224, out: join(dir, `${name}.npy`) });
  }
  // training: GroupMultiScaleCrop (a shrinking, an enlarging and a distorted crop) + flip
  const msc = new GroupMultiScaleCrop(224);
  const crops = [{ w: 256, h: 256, x: 84, y: 0 }, { w: 168, h: 192, x: 43, y: 16 }, { w: 192, h: 224, x: 74, y: 16 }];
  for (const [i, c] of crops.entries()) {
    const frames = await decode(landscape);
    let g = await Promise.all(frames.map((f) => resizeBilinear(cropImage(f, c.x, c.y, c.w, c.h), 224, 224)));
    const flip = i !== 1; // 340x256 -> 256-crop shrinks; 168x192 and 192x224 enlarge
    if (flip) g = g.map(flipImage);
    ours[`msc${i}`] = groupToTensor(g, rgb).data;
    cases.push({ kind: 'multiscale', files: landscape, ...c, size: 224, flip, out: join(dir, `msc${i}.npy`) });
  }
  // the crops above are ones GroupMultiScaleCrop can draw on a 340x256 frame
  const drawn = new Set<string>();
  const rng = new RandomState(5);
  for (let k = 0; k < 400; k++) {
    const s = msc.sampleCrop(340, 256, rng);
    drawn.add(`${s.w},${s.h},${s.x},${s.y}`);
  }
  for (const c of crops) assert.ok(drawn.has(`${c.w},${c.h},${c.x},${c.y}`), `crop ${JSON.stringify(c)} is drawable`);
  // flow: L frames, flip inverts the x frames
  {
    const frames = await decode(flow, 'L');
    const c = { w: 192, h: 192, x: 64, y: 24 };
    const g = (await Promise.all(frames.map((f) => resizeBilinear(cropImage(f, c.x, c.y, c.w, c.h), 224, 224))))
      .map((img, i) => (i % 2 === 0 ? invertImage(flipImage(img)) : flipImage(img)));
    ours.flow = groupToTensor(g, normalizationFor('Flow')).data;
    cases.push({ kind: 'multiscale', mode: 'L', files: flow, ...c, size: 224, flip: true, out: join(dir, 'flow.npy') });
  }
  // 10-crop testing
  {
    const g = await new GroupOverSample(224, 256).apply(await decode(landscape.slice(0, 2)));
    assert.equal(g.length, 20);
    ours.oversample = groupToTensor(g, rgb).data;
    cases.push({ kind: 'oversample', files: landscape.slice(0, 2), scale: 256, crop: 224, out: join(dir, 'oversample.npy') });
  }

  const jobFile = join(dir, 'job.json');
  writeFileSync(jobFile, JSON.stringify({ cases }));
  execFileSync(PYTHON, [join(dirname(fileURLToPath(import.meta.url)), 'golden_ref.py'), jobFile], { stdio: ['ignore', 'ignore', 'inherit'] });

  const report: string[] = [];
  for (const c of cases) {
    const name = (c.out as string).split('/').pop()!.replace('.npy', '');
    const ref = await readNpy(c.out as string);
    const d = diffStats(ours[name], ref.data as Float32Array);
    report.push(`${name}: max ${(d.max / LEVEL).toFixed(2)} levels, mean ${(d.mean / LEVEL).toFixed(3)} levels`);
    assert.ok(d.max <= 0.01 * LEVEL, `${name}: max |diff| ${d.max} (${(d.max / LEVEL).toFixed(2)} levels) exceeds 0.01 levels`);
  }
  console.log(`PIL vs ours, per case (1 level = ${LEVEL.toFixed(4)} normalised):\n  ${report.join('\n  ')}`);
});
