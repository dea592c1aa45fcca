/**
 * The fixture's online checkpoint has random weights, so its label hardly depends on the picture. For tests that
 * need the label to follow the clip (the Node demo, the browser demo) this derives a checkpoint from it whose
 * classifier is refit to tell a few background colours apart: the backbone stays the fixture's, and only
 * `classifier.{weight,bias}` change. The result goes through the normal path (`.pth` -> export -> onnxruntime).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { extractStateDict, readPth, writePth } from '../../src/checkpoint/index.js';
import { buildOnlineExportGraph } from '../../src/deploy/export.js';
import { normalizeFrame } from '../../src/deploy/preprocess.js';
import { encodeOnnx } from '../../src/graph/index.js';
import { onlineMobileNetV2FromStateDict } from '../../src/models/online.js';
import { type HostTensor, float32 } from '../../src/tensor/index.js';
import { onlineCheckpoint } from './online-fixture.js';

/** A background colour and the class it should show. */
export interface ColorClass {
  readonly rgb: readonly [number, number, number];
  readonly cls: number;
}

/** Red, green and blue backgrounds as Thumb Up (20), Stop Sign (14) and Swiping Left (16) of the Jester labels. */
export const RGB_CLASSES: readonly ColorClass[] = [
  { rgb: [220, 40, 40], cls: 20 },
  { rgb: [40, 200, 60], cls: 14 },
  { rgb: [40, 60, 220], cls: 16 },
];

const FEATURES = 1280;
const SIZE = 224;

/** Pooled backbone features (1280) of a steady plain-colour stream, through an identity classifier. */
async function colorFeatures(sd: ReadonlyMap<string, HostTensor>, colors: readonly ColorClass[]): Promise<Float64Array[]> {
  const eye = float32([FEATURES, FEATURES]);
  for (let i = 0; i < FEATURES; i++) (eye.data as Float32Array)[i * FEATURES + i] = 1;
  const probe = new Map(sd);
  probe.set('classifier.weight', eye);
  probe.set('classifier.bias', float32([FEATURES]));
  const { model } = onlineMobileNetV2FromStateDict(probe, { numClasses: FEATURES });
  const { graph, info } = buildOnlineExportGraph(model, { inputSize: SIZE });
  const session = await ort.InferenceSession.create(encodeOnnx(graph));
  const out: Float64Array[] = [];
  for (const { rgb } of colors) {
    const px = new Uint8Array(SIZE * SIZE * 3);
    for (let i = 0; i < SIZE * SIZE; i++) px.set(rgb, i * 3);
    const frame = new ort.Tensor('float32', normalizeFrame(px, SIZE, SIZE, 3, info), [1, 3, SIZE, SIZE]);
    const feeds: Record<string, ort.Tensor> = { frame };
    info.bufferShapes.forEach((s, i) => (feeds[info.bufferInputs[i]] = new ort.Tensor('float32', new Float32Array(s.reduce((a, d) => a * d, 1)), s as number[])));
    let feat: Float32Array = new Float32Array(FEATURES);
    for (let step = 0; step < 4; step++) {
      const r = await session.run(feeds);
      feat = r.logits.data as Float32Array;
      info.bufferOutputs.forEach((n, i) => (feeds[info.bufferInputs[i]] = r[n]));
    }
    out.push(Float64Array.from(feat));
  }
  await session.release();
  return out;
}

/**
 * Writes `<dir>/color_online.pth`: the fixture checkpoint with its classifier set so that class `cls` scores
 * `scale` on its colour's features and the others near or below 0 (`w_k = (f_k - mean) / |f_k - mean|^2`).
 * @returns the checkpoint path
 */
export async function writeColorCheckpoint(dir: string, colors: readonly ColorClass[] = RGB_CLASSES, scale = 12): Promise<string> {
  const { stateDict } = extractStateDict(await readPth(onlineCheckpoint()));
  const feats = await colorFeatures(stateDict, colors);
  const mean = new Float64Array(FEATURES);
  for (const f of feats) for (let i = 0; i < FEATURES; i++) mean[i] += f[i] / feats.length;
  const numClasses = (stateDict.get('classifier.weight') as HostTensor).shape[0];
  const weight = float32([numClasses, FEATURES]);
  const bias = float32([numClasses]);
  colors.forEach(({ cls }, k) => {
    const d = feats[k].map((v, i) => v - mean[i]);
    const norm2 = d.reduce((a, v) => a + v * v, 0);
    let dot = 0;
    for (let i = 0; i < FEATURES; i++) {
      (weight.data as Float32Array)[cls * FEATURES + i] = (scale * d[i]) / norm2;
      dot += d[i] * mean[i];
    }
    (bias.data as Float32Array)[cls] = (-scale * dot) / norm2;
  });
  const out = new Map(stateDict);
  out.set('classifier.weight', weight);
  out.set('classifier.bias', bias);
  const path = join(dir, 'color_online.pth');
  await writePth(path, { stateDict: out });
  return path;
}

/**
 * Writes a clip of `secondsPerColor` of each {@link RGB_CLASSES} colour (red, green, blue) at 15 fps, 320x240, with
 * a white square moving across. The container follows the extension: `.mp4` (H.264), `.webm` (VP8) or `.y4m` (raw
 * 4:2:0, what Chromium's fake camera plays).
 */
export function writeColorClip(path: string, colors: readonly ColorClass[] = RGB_CLASSES, secondsPerColor = 2): void {
  const hex = colors.map(({ rgb }) => `0x${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}`);
  const bg = hex.map((c, i) => `color=c=${c}:size=320x240:rate=15:duration=${secondsPerColor},format=rgb24[c${i}]`).join(';');
  const inputs = hex.map((_, i) => `[c${i}]`).join('');
  const graph = `${bg};${inputs}concat=n=${hex.length}:v=1[bg];color=c=white:size=50x50:rate=15[sq];[bg][sq]overlay=x='mod(t*150,270)':y=95:shortest=1`;
  const codec: Record<string, string[]> = {
    mp4: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'],
    webm: ['-c:v', 'libvpx', '-b:v', '1M', '-pix_fmt', 'yuv420p'],
    y4m: ['-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe'],
  };
  const ext = path.split('.').pop() ?? '';
  if (!codec[ext]) throw new Error(`writeColorClip: unsupported extension .${ext} (mp4, webm or y4m)`);
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', graph, ...codec[ext], path], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`ffmpeg could not write ${path} (exit ${r.status}): ${r.stderr || r.error?.message}`);
}
