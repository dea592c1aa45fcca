import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, test } from 'node:test';
import { makeImage } from '../../src/data/image.js';
import { GroupCenterCrop, GroupScale } from '../../src/data/transforms.js';
import { ffmpegFrames, openFrameSource, openOnlineModel, preprocessImage, recognizeFrames } from '../../src/deploy/live.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/deploy/metadata.js';
import { UsageError } from '../../src/errors.js';
import { assertWithin } from '../helpers/assert-close.js';
import { U32, U64, gamma } from '../helpers/fp32-bounds.js';
import { makeRng } from '../helpers/rng.js';
import { RGB_CLASSES, writeColorCheckpoint, writeColorClip } from './color-model.js';

const repo = resolve(import.meta.dirname, '..', '..');
const tsm = (args: readonly string[]) => spawnSync(process.execPath, [join(repo, 'bin', 'tsm.js'), ...args], { encoding: 'utf8', cwd: repo, timeout: 120_000 });

let dir: string;
let video: string;
let weights: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-live-'));
  video = join(dir, 'rgb.mp4');
  writeColorClip(video);
  weights = await writeColorCheckpoint(dir);
});

/** The labels in the order they first appear. */
const runs = (labels: readonly string[]): string[] => labels.filter((l, i) => i === 0 || l !== labels[i - 1]);

test('preprocessImage matches the data pipeline (GroupScale(256), GroupCenterCrop(224), ImageNet normalize)', async () => {
  const rng = makeRng(3);
  const img = makeImage(320, 240, 3, Uint8Array.from({ length: 320 * 240 * 3 }, () => rng.int(256)));
  const ours = await preprocessImage(img, { inputSize: [224, 224], scaleSize: 256, mean: IMAGENET_MEAN, std: IMAGENET_STD });
  const [crop] = await new GroupCenterCrop(224).apply(await new GroupScale(256).apply([img]));
  const expected = new Float32Array(3 * 224 * 224);
  const bound = new Float64Array(3 * 224 * 224);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 224 * 224; i++) {
      const v = crop.data[i * 3 + c];
      expected[c * 224 * 224 + i] = (v / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
      // the same pixels (the same resize); each side's float64 arithmetic, then its float32 store (u |y| each)
      bound[c * 224 * 224 + i] = 2 * U32 * Math.abs(expected[c * 224 * 224 + i]) + gamma(8, U64) * (v / 255 + IMAGENET_MEAN[c]) / IMAGENET_STD[c];
    }
  }
  assertWithin(ours, expected, bound, 'normalized crop');
});

test('ffmpegFrames reads any ffmpeg input (as for a v4l2 camera) at the asked size', async () => {
  const frames = [];
  for await (const f of ffmpegFrames(['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10:duration=1'], 32, 24, 'testsrc')) frames.push(f);
  assert.equal(frames.length, 10);
  assert.deepEqual([frames[0].width, frames[0].height, frames[0].channels, frames[0].data.length], [32, 24, 3, 32 * 24 * 3]);
  await assert.rejects(async () => {
    for await (const _ of ffmpegFrames(['-f', 'lavfi', '-i', 'nosuchsource'], 32, 24, 'bad')) void _;
  }, /ffmpeg could not read bad/);
  assert.throws(() => openFrameSource(join(dir, 'missing.mp4')), (e: unknown) => e instanceof UsageError && /no such video file/.test(e.message));
  assert.throws(() => openFrameSource('/dev/video97'), /: input \/dev\/video97: no camera at \/dev\/video97; give a video file instead/);
});

test('recognizeFrames: the smoothed label follows the clip red -> green -> blue, every 2nd frame', async () => {
  const live = await openOnlineModel({ weights, threads: 1 });
  const preds = [];
  for await (const p of recognizeFrames(openFrameSource(video), live)) preds.push(p);
  await live.release();
  assert.equal(preds.length, 45); // 90 frames, every 2nd
  assert.deepEqual(preds.slice(0, 3).map((p) => p.frame), [0, 2, 4]);
  const labels = RGB_CLASSES.map(({ cls }) => live.info.labels[cls]);
  // starts at the demo's initial "No gesture", then each colour in turn, never flickering back
  assert.deepEqual(runs(preds.map((p) => p.label)).slice(-3), labels);
  assert.ok(preds.every((p) => p.latencyMs > 0 && p.modelMs > 0 && p.modelMs <= p.latencyMs));
  assert.ok(preds.every((p) => p.top.length === 5 && p.top[0].score >= p.top[4].score));
});

test('tsm export --online then tsm demo --model --json prints one JSON object per processed frame', () => {
  const model = join(dir, 'color.onnx');
  const labels = join(dir, 'labels.txt');
  writeFileSync(labels, `${Array.from({ length: 27 }, (_, i) => `gesture ${i}`).join('\n')}\n`);
  const ex = tsm(['export', '--weights', weights, '--out', model, '--online', '--labels', labels]);
  assert.equal(ex.status, 0, ex.stderr);
  assert.match(ex.stdout, /wrote .*color\.onnx .*mobilenetv2 online step model, 10 shift buffers, 27 classes, input 224x224/);
  const r = tsm(['demo', '--model', model, '--input', video, '--json', '--threads', '1', '--frame-stride', '3']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { frame: number; label: string; latencyMs: number; top: { label: string }[] });
  assert.equal(lines.length, 30);
  assert.deepEqual(lines.slice(0, 2).map((l) => l.frame), [0, 3]);
  // custom labels: the generic smoothing (no Jester masks), so the first frame's label is shown at once
  assert.deepEqual(runs(lines.map((l) => l.label)).slice(-3), RGB_CLASSES.map(({ cls }) => `gesture ${cls}`));
  assert.match(r.stderr, /30 frames: [\d.]+ ms\/frame \(p50 [\d.]+, p90 [\d.]+; model [\d.]+ ms\)/);
  // text mode
  const t = tsm(['demo', '--model', model, '--input', video, '--max-frames', '4', '--threads', '1']);
  assert.equal(t.status, 0, t.stderr);
  assert.equal(t.stdout.trim().split('\n').length, 4);
  assert.match(t.stdout, /^frame +0 +gesture \d+ /);
});

test('tsm demo usage errors exit with code 2 and say how to fix the input', () => {
  const both = tsm(['demo', '--model', 'a.onnx', '--weights', 'b.pth']);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /error TSM_USAGE: pass either --model FILE.onnx or --weights FILE.pth, not both/);
  const missing = tsm(['demo', '--weights', weights, '--input', join(dir, 'nope.mp4')]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no such video file, and not a camera/);
  const stride = tsm(['demo', '--weights', weights, '--input', video, '--frame-stride', '0']);
  assert.equal(stride.status, 2);
  assert.match(stride.stderr, /expected a positive integer for --frame-stride but received "0"/);
});
