/**
 * `tsm export --quantize int8|fp16`: the clip model from a checkpoint and the shipped online model from its
 * `.onnx`, calibrated on a dataset folder, a folder of videos or a folder of frame folders; metadata; and the
 * bad inputs, each one clear error with no file written.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, test } from 'node:test';
import { makeSyntheticDataset } from '../../src/data/index.js';
import { readDefaultModel } from '../../src/deploy/default-model.js';
import { parseDeployMetadata } from '../../src/deploy/metadata.js';
import { readOnnxMetadata } from '../../src/deploy/onnx-metadata.js';
import { createSession } from '../../src/runtime/index.js';
import { float32 } from '../../src/tensor/index.js';

const repo = resolve(import.meta.dirname, '..', '..');
const tsm = (args: readonly string[]) => spawnSync(process.execPath, [join(repo, 'bin', 'tsm.js'), 'export', ...args], { encoding: 'utf8', cwd: repo, timeout: 300_000 });

let dir: string;
let data: string;
let clipPth: string;
let onlineOnnx: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-quantize-cli-'));
  data = join(dir, 'synthetic');
  await makeSyntheticDataset(data, { clips: 1, size: 64, frames: 16, seed: 1, valFraction: 0 });
  const card = readDefaultModel();
  clipPth = card?.file('clip', 'weights') as string;
  onlineOnnx = card?.file('online', 'onlineOnnx') as string;
  assert.ok(existsSync(clipPth) && existsSync(onlineOnnx), 'the shipped default model is missing');
});

test('int8 clip model from a checkpoint, calibrated on a dataset folder: metadata records the precision and calibration', async () => {
  const out = join(dir, 'clip.int8.onnx');
  const r = tsm(['--weights', clipPth, '--out', out, '--input-size', '64', '--labels', join(repo, 'models/default/labels.txt'), '--quantize', 'int8', '--calibration', data, '--calibration-clips', '4']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*clip\.int8\.onnx \([\d.]+ MB\): mobilenetv2 clip model, 4 segments, 8 classes, input 64x64, int8/);
  assert.match(r.stderr, /calibrated on 4 clips/);
  const bytes = readFileSync(out);
  const meta = readOnnxMetadata(bytes);
  const info = parseDeployMetadata(meta);
  assert.equal(info.precision, 'int8');
  const cal = JSON.parse(meta.calibration) as { method: string; clips: number; source: string; activations: string; weights: string; floatNodes: string[] };
  assert.equal(cal.method, 'minmax');
  assert.equal(cal.clips, 4);
  assert.match(cal.source, /dataset synthetic \(train_videofolder\.txt, 4 of 8 clips\)/);
  assert.match(cal.activations, /uint8 asymmetric/);
  assert.match(cal.weights, /per output channel/);
  assert.deepEqual(cal.floatNodes, []);
  assert.ok(bytes.length < 0.45 * readFileSync(clipPth.replace(/\.pth$/, '.onnx')).length, 'int8 is well under half the float32 file');
  const s = await createSession(bytes);
  const y = await s.run({ input: float32([1, 12, 64, 64]) });
  assert.deepEqual(y.logits.shape, [1, 8]);
});

test('int8 and fp16 online models from the shipped .onnx, calibrated on frame folders and on videos', async () => {
  const videos = join(dir, 'videos');
  mkdirSync(videos);
  // frames/<class>/<clip>/img_00001.jpg: frame folders one level down
  const frames = join(data, 'frames');
  for (const cls of readdirSync(frames).slice(0, 2)) {
    const clip = join(frames, cls, readdirSync(join(frames, cls))[0]);
    execFileSync('ffmpeg', ['-v', 'error', '-framerate', '8', '-i', join(clip, 'img_%05d.jpg'), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', join(videos, `${cls}.mp4`)]);
  }
  for (const [source, what] of [[frames, /8 frame folders/], [videos, /2 videos/]] as const) {
    const out = join(dir, `online-${what.source.includes('video') ? 'videos' : 'frames'}.int8.onnx`);
    const r = tsm(['--weights', onlineOnnx, '--out', out, '--quantize', 'int8', '--calibration', source, '--calibration-method', 'percentile']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /online step model, 10 shift buffers, 8 classes, input 64x64, int8/);
    const meta = readOnnxMetadata(readFileSync(out));
    assert.match(JSON.parse(meta.calibration).source, what);
    assert.equal(JSON.parse(meta.calibration).method, 'percentile');
    const info = parseDeployMetadata(meta);
    assert.deepEqual(info.bufferShapes, parseDeployMetadata(readOnnxMetadata(readFileSync(onlineOnnx))).bufferShapes);
  }
  const out16 = join(dir, 'online.fp16.onnx');
  const r = tsm(['--weights', onlineOnnx, '--out', out16, '--quantize', 'fp16']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(parseDeployMetadata(readOnnxMetadata(readFileSync(out16))).precision, 'float16');
  assert.ok(readFileSync(out16).length < 0.55 * readFileSync(onlineOnnx).length);
});

test('bad quantisation inputs: one clear error naming the flag or path, exit code 2 (1 for unreadable frames), no file written', () => {
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const notes = join(dir, 'notes');
  mkdirSync(notes);
  writeFileSync(join(notes, 'readme.txt'), 'no clips here');
  const flow = join(dir, 'flow');
  mkdirSync(flow);
  writeFileSync(join(flow, 'dataset.json'), JSON.stringify({ name: 'flowset', modality: 'Flow', categories: 'c.txt', trainList: 't.txt', valList: 'v.txt' }));
  writeFileSync(join(flow, 'c.txt'), 'a\nb\n');
  const noClips = join(dir, 'no-clips');
  mkdirSync(noClips);
  writeFileSync(join(noClips, 'dataset.json'), JSON.stringify({ name: 'nothing', categories: 'c.txt', trainList: 't.txt', valList: 'v.txt' }));
  writeFileSync(join(noClips, 'c.txt'), 'a\n');
  writeFileSync(join(noClips, 't.txt'), '');
  const broken = join(dir, 'broken', 'clip1');
  mkdirSync(broken, { recursive: true });
  const first = join(data, 'frames', 'right', readdirSync(join(data, 'frames', 'right'))[0]);
  for (let i = 1; i <= 16; i++) copyFileSync(join(first, `img_${String(i).padStart(5, '0')}.jpg`), join(broken, `img_${String(i).padStart(5, '0')}.jpg`));
  for (let i = 2; i <= 16; i++) writeFileSync(join(broken, `img_${String(i).padStart(5, '0')}.jpg`), 'not a jpeg');
  const int8 = join(dir, 'already.int8.onnx');
  assert.equal(tsm(['--weights', onlineOnnx, '--out', int8, '--quantize', 'fp16']).status, 0);

  const cases: [string[], number, RegExp][] = [
    [['--weights', clipPth, '--quantize', 'int4'], 2, /unsupported --quantize "int4"; must be one of \[int8, fp16\]/],
    [['--weights', clipPth, '--quantize', 'int8'], 2, /--quantize int8 needs --calibration PATH/],
    [['--weights', clipPth, '--quantize', 'int8', '--calibration', join(dir, 'missing')], 2, /--calibration .*missing: no such file or folder/],
    [['--weights', clipPth, '--input-size', '64', '--quantize', 'int8', '--calibration', empty], 2, /--calibration .*empty: the folder holds no dataset\.json, no video files .* and no frame folders/],
    [['--weights', clipPth, '--input-size', '64', '--quantize', 'int8', '--calibration', notes], 2, /no frame folders; nothing to calibrate on/],
    [['--weights', onlineOnnx, '--quantize', 'int8', '--calibration', flow], 2, /dataset flowset holds Flow frames, the model takes RGB frames/],
    [['--weights', onlineOnnx, '--quantize', 'int8', '--calibration', noClips], 2, /dataset nothing lists no clips/],
    [['--weights', onlineOnnx, '--quantize', 'int8', '--calibration', join(dir, 'broken')], 1, /error TSM_DATA: calibration clip .*clip1: cannot decode .*img_000\d\d\.jpg/],
    [['--weights', clipPth, '--quantize', 'int8', '--calibration', data, '--calibration-method', 'mse'], 2, /expected one of minmax, percentile, entropy for --calibration-method but received "mse"/],
    [['--weights', clipPth, '--quantize', 'fp16', '--calibration', data], 2, /--quantize fp16 is not calibrated; drop --calibration$/m],
    [['--weights', clipPth, '--calibration', data], 2, /--calibration only apply with --quantize int8/],
    [['--weights', onlineOnnx], 2, /is already an ONNX model; pass --quantize int8\|fp16/],
    [['--weights', onlineOnnx, '--quantize', 'fp16', '--input-size', '96'], 2, /an exported \.onnx is quantised as it is; export the checkpoint again to change --input-size/],
    [['--weights', int8, '--quantize', 'int8', '--calibration', data], 2, /is already float16; quantise the float32 model it was made from/],
  ];
  for (const [args, code, msg] of cases) {
    const out = join(dir, 'bad', 'x.onnx');
    mkdirSync(join(dir, 'bad'), { recursive: true });
    const r = tsm([...args, '--out', out]);
    assert.equal(r.status, code, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, msg, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(readdirSync(join(dir, 'bad')), [], `${args.join(' ')} left a file behind`);
  }
});
