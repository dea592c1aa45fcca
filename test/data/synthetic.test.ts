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

test('the motions outside the temporal-order task: orbit circles back, shake swings, bounce drops and returns', () => {
  /** Centre of the pixels that differ from the per-pixel median over the clip (the static background), per frame. */
  const path = (cls: SyntheticClass, seed: number): [number, number][] => {
    const frames = renderSyntheticClip(cls, { size: 48, frames: 24, seed, noise: 0 });
    const n = 48 * 48;
    const median = new Float32Array(n * 3);
    for (let i = 0; i < n * 3; i++) median[i] = frames.map((f) => f.data[i]).sort((a, b) => a - b)[frames.length >> 1];
    return frames.map((img) => {
      let sx = 0;
      let sy = 0;
      let m = 0;
      for (let i = 0; i < n; i++) {
        const d = Math.abs(img.data[3 * i] - median[3 * i]) + Math.abs(img.data[3 * i + 1] - median[3 * i + 1]) + Math.abs(img.data[3 * i + 2] - median[3 * i + 2]);
        if (d > 60) { sx += i % 48; sy += Math.floor(i / 48); m++; }
      }
      return [sx / m, sy / m];
    });
  };
  const range = (xs: number[]): number => Math.max(...xs) - Math.min(...xs);
  const turns = (xs: number[]): number => xs.slice(2).filter((x, i) => Math.sign(x - xs[i + 1]) * Math.sign(xs[i + 1] - xs[i]) < 0).length;
  for (let seed = 0; seed < 4; seed++) {
    const orbit = path('orbit', seed);
    assert.ok(range(orbit.map((p) => p[0])) > 8 && range(orbit.map((p) => p[1])) > 4, `orbit moves both ways (seed ${seed})`);
    assert.ok(Math.hypot(orbit[0][0] - orbit[23][0], orbit[0][1] - orbit[23][1]) < 3, `orbit ends where it started (seed ${seed})`);
    const shake = path('shake', seed);
    assert.ok(turns(shake.map((p) => p[0])) >= 3, `shake turns left/right at least 3 times (seed ${seed})`);
    assert.ok(range(shake.map((p) => p[1])) < 2, `shake stays on one line (seed ${seed})`);
    const bounce = path('bounce', seed);
    const ys = bounce.map((p) => p[1]);
    assert.ok(ys[12] > ys[0] + 4 && ys[12] > ys[23] + 4, `bounce is lowest in the middle (seed ${seed})`);
    assert.ok(range(bounce.map((p) => p[0])) < 2, `bounce stays on one column (seed ${seed})`);
  }
});

test('a scene seed fixes the scene and leaves the motion to the clip seed', () => {
  const a = renderSyntheticClip('orbit', { size: 32, frames: 4, seed: 1, sceneSeed: 9, noise: 0 });
  const b = renderSyntheticClip('shake', { size: 32, frames: 4, seed: 2, sceneSeed: 9, noise: 0 });
  const c = renderSyntheticClip('shake', { size: 32, frames: 4, seed: 2, sceneSeed: 10, noise: 0 });
  // the top-left corner pixel is background in these clips: the same for one scene seed, different for another
  assert.deepEqual([...a[0].data.subarray(0, 3)], [...b[0].data.subarray(0, 3)]);
  assert.notDeepEqual([...b[0].data.subarray(0, 3)], [...c[0].data.subarray(0, 3)]);
  assert.notDeepEqual(a[0].data, b[0].data);
  // without a scene seed the clip seed draws both, as before
  assert.deepEqual(renderSyntheticClip('right', { size: 24, frames: 3, seed: 5 })[1].data, renderSyntheticClip('right', { size: 24, frames: 3, seed: 5 })[1].data);
});
