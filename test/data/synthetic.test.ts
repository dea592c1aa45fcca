import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderSyntheticClip, syntheticBatch, SYNTHETIC_CLASSES, type SyntheticClass } from '../../src/data/synthetic.js';

test('a reversed class is its partner played backwards: same frames, opposite order', () => {
  for (const [a, b] of [['right', 'left'], ['down', 'up'], ['clockwise', 'anticlockwise'], ['grow', 'shrink']] as const) {
    const fwd = renderSyntheticClip(a as SyntheticClass, { size: 24, frames: 6, seed: 42 });
    const back = renderSyntheticClip(b as SyntheticClass, { size: 24, frames: 6, seed: 42 });
    assert.equal(SYNTHETIC_CLASSES[b].reversed, true);
    assert.deepEqual(back.map((f) => f.data), [...fwd].reverse().map((f) => f.data), `${b} = reversed ${a}`);
    assert.notDeepEqual(back[0].data, fwd[0].data);
  }
});

test('the shape really moves the way the class says', () => {
  // centre of mass of the pixels that differ from the per-pixel median over the clip (the static background)
  const centroid = (frames: ReturnType<typeof renderSyntheticClip>, f: number): [number, number] => {
    const img = frames[f];
    let sx = 0;
    let sy = 0;
    let n = 0;
    for (let i = 0; i < img.width * img.height; i++) {
      let d = 0;
      for (let k = 0; k < 3; k++) {
        const vals = frames.map((fr) => fr.data[3 * i + k]).sort((a, b) => a - b);
        d += Math.abs(img.data[3 * i + k] - vals[Math.floor(vals.length / 2)]);
      }
      if (d > 60) { sx += i % img.width; sy += Math.floor(i / img.width); n++; }
    }
    return [sx / n, sy / n];
  };
  for (let seed = 0; seed < 5; seed++) {
    const right = renderSyntheticClip('right', { size: 48, frames: 8, seed, noise: 0 });
    assert.ok(centroid(right, 7)[0] > centroid(right, 0)[0], `right moves right (seed ${seed})`);
    const up = renderSyntheticClip('up', { size: 48, frames: 8, seed, noise: 0 });
    assert.ok(centroid(up, 7)[1] < centroid(up, 0)[1], `up moves up (seed ${seed})`);
  }
});

test('syntheticBatch renders normalised [B, T*3, S, S] tensors with int64 labels, seeded', () => {
  const a = syntheticBatch({ batchSize: 3, numSegments: 4, size: 16, frames: 8, seed: 5 });
  const b = syntheticBatch({ batchSize: 3, numSegments: 4, size: 16, frames: 8, seed: 5 });
  assert.deepEqual(a.input.shape, [3, 12, 16, 16]);
  assert.deepEqual(a.labels.shape, [3]);
  assert.deepEqual(a.input.data, b.input.data);
  assert.ok([...a.labels.data].every((l) => l === 0n || l === 1n));
  const max = a.input.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(max > 1 && max < 2.7, `normalised range, got ${max}`);
});
