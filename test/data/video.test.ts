import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { DataError } from '../../src/errors.js';
import { decodeVideoFrames, probeVideo, sampleVideoFrames } from '../../src/data/video.js';
import { getValIndices } from '../../src/data/sampling.js';

let video = '';
let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-video-'));
  video = join(dir, 'clip.mp4');
  // 30 frames whose mean brightness grows with the frame number, so a frame's position can be read back
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=black:s=64x48:r=10:d=3', '-vf', "geq=lum='40+N*6':cb=128:cr=128", '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-g', '1', video]);
});

const brightness = (d: Uint8Array): number => d.reduce((s, v) => s + v, 0) / d.length;

test('probeVideo reads size, frame count and rate', async () => {
  assert.deepEqual(await probeVideo(video), { width: 64, height: 48, numFrames: 30, fps: 10 });
  await assert.rejects(probeVideo(join(dir, 'none.mp4')), (e: unknown) => e instanceof DataError && /none\.mp4/.test(e.message));
});

test('decodeVideoFrames yields every frame in order, rescaled, and stops ffmpeg on break', async () => {
  const means: number[] = [];
  for await (const f of decodeVideoFrames(video, { shortSide: 32 })) {
    assert.deepEqual([f.width, f.height, f.channels], [42, 32, 3]);
    means.push(brightness(f.data));
  }
  assert.equal(means.length, 30);
  for (let i = 1; i < 30; i++) assert.ok(means[i] > means[i - 1], `frame ${i} brighter than ${i - 1}`);
  let n = 0;
  for await (const _ of decodeVideoFrames(video)) if (++n === 3) break;
  assert.equal(n, 3);
});

test('sampleVideoFrames picks the TSN segment centres from a video file', async () => {
  const all: number[] = [];
  for await (const f of decodeVideoFrames(video)) all.push(brightness(f.data));
  const s = await sampleVideoFrames(video, { numSegments: 8 });
  assert.deepEqual(s.indices, getValIndices(30, { numSegments: 8 }));
  assert.equal(s.numFrames, 30);
  assert.deepEqual(s.frames.map((f) => brightness(f.data)), s.indices.map((i) => all[i - 1]));
  const dense = await sampleVideoFrames(video, { numSegments: 4, newLength: 2, mode: 'test' });
  assert.equal(dense.frames.length, 8);
});

test('a file that is not a video is a DataError', async () => {
  const bad = join(dir, 'bad.mp4');
  writeFileSync(bad, 'not a video');
  await assert.rejects(sampleVideoFrames(bad, { numSegments: 2 }), (e: unknown) => e instanceof DataError && /bad\.mp4/.test(e.message));
});
