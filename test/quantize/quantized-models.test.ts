/**
 * Quantised models wherever float32 exports are taken: `tsm test` and `tsm predict` (an exported `.onnx` as
 * `--weights`), `tsm demo --model`, the library's actionRecognizer (clips and streams), and the OnlineStepper on
 * onnxruntime-node and onnxruntime-web, whose shift buffers stay float32 tensors whatever the precision.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, test } from 'node:test';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { makeSyntheticDataset } from '../../src/data/index.js';
import { readDefaultModel } from '../../src/deploy/default-model.js';
import { exportCheckpoint } from '../../src/deploy/export.js';
import { IMAGENET_MEAN, IMAGENET_STD, parseDeployMetadata } from '../../src/deploy/metadata.js';
import { readOnnxMetadata } from '../../src/deploy/onnx-metadata.js';
import { OnlineStepper } from '../../src/deploy/online-stepper.js';
import { openCalibrationSet } from '../../src/quantize/index.js';
import { actionRecognizer } from '../../src/recognize/index.js';

const repo = resolve(import.meta.dirname, '..', '..');
const tsm = (args: readonly string[]) => spawnSync(process.execPath, [join(repo, 'bin', 'tsm.js'), ...args], { encoding: 'utf8', cwd: repo, timeout: 300_000 });
const card = readDefaultModel();

let dir: string;
let data: string;
const models: Record<'clip' | 'online', Record<'float32' | 'int8' | 'float16', string>> = { clip: {} as never, online: {} as never };

before(async () => {
  assert.ok(card, 'the shipped default model is missing');
  dir = mkdtempSync(join(tmpdir(), 'tsm-quantized-'));
  data = join(dir, 'data');
  await makeSyntheticDataset(data, { clips: 2, size: 64, frames: 16, seed: 1, valFraction: 0.5 });
  const clipPth = card.file('clip', 'weights') as string;
  models.clip.float32 = card.file('clip', 'onnx') as string;
  models.online.float32 = card.file('online', 'onlineOnnx') as string;
  for (const kind of ['clip', 'online'] as const) {
    for (const [precision, quantize] of [['int8', 'int8'], ['float16', 'fp16']] as const) {
      const out = join(dir, `${kind}.${precision}.onnx`);
      const weights = kind === 'clip' ? clipPth : models.online.float32;
      const extra = kind === 'clip' ? { inputSize: 64, labels: card.card.classes } : {};
      await exportCheckpoint({ weights, out, ...extra, quantize, ...(quantize === 'int8' ? { calibration: data } : {}) });
      models[kind][precision] = out;
    }
  }
});

test('tsm test takes an exported .onnx (clip and online, any precision) and names its precision', () => {
  for (const [kind, extra] of [['clip', []], ['online', ['--test-segments', '4']]] as const) {
    for (const precision of ['float32', 'int8', 'float16'] as const) {
      const r = tsm(['test', data, '--weights', models[kind][precision], ...extra, '-j', '0', '--threads', '1', '--output', join(dir, `test-${kind}-${precision}`)]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`=> model 0: exported ${kind} model, mobilenetv2, .*${precision}, 8 classes`));
      assert.match(r.stdout, /Overall Prec@1 [\d.]+% Prec@5 [\d.]+%/);
    }
  }
  // a checkpoint's configuration flags have nothing to configure in an exported model
  const r = tsm(['test', data, '--weights', models.clip.int8, '--arch', 'resnet50', '--output', join(dir, 'x')]);
  assert.equal(r.status, 2);
  // the flag as given on the command line (the library names the option, arch)
  assert.match(r.stderr, /is an exported model, configured by its own metadata; drop --arch\n/);
});

test('tsm predict labels frame folders with an int8 clip model, naming classes from its metadata', () => {
  const frames = join(data, 'frames');
  const inputs = readdirSync(frames).slice(0, 3).map((cls) => join(frames, cls, readdirSync(join(frames, cls))[0]));
  const top = (weights: string) => {
    const r = tsm(['predict', ...inputs, '--weights', weights, '--json', '--top-k', '2']);
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as { predictions: { top: { label: string; probability: number }[] }[] }).predictions.map((p) => p.top[0]);
  };
  const float = top(models.clip.float32);
  const int8 = top(models.clip.int8);
  for (const [i, p] of int8.entries()) {
    assert.ok(card?.card.classes.includes(p.label), `label ${p.label}`);
    assert.ok(p.probability > 0 && p.probability <= 1);
    assert.equal(p.label, float[i].label, `input ${i}: int8 says ${p.label}, float32 ${float[i].label}`);
  }
});

test('tsm demo --model runs the int8 and float16 online models on a video', () => {
  const clip = join(data, 'frames', 'right', readdirSync(join(data, 'frames', 'right'))[0]);
  const video = join(dir, 'right.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-framerate', '8', '-i', join(clip, 'img_%05d.jpg'), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', video]);
  for (const precision of ['int8', 'float16'] as const) {
    const r = tsm(['demo', '--model', models.online[precision], '--input', video, '--json', '--threads', '1']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { label: string; top: unknown[] });
    assert.equal(lines.length, 8, 'every 2nd of 16 frames');
    for (const l of lines) assert.ok(card?.card.classes.includes(l.label));
  }
});

test('the OnlineStepper steps int8 and float16 models on onnxruntime-node and -web with float32 buffers, as float32 does', async () => {
  const set = await openCalibrationSet({ path: data, clips: 1, segments: 8, preprocessing: { inputSize: [64, 64], mean: IMAGENET_MEAN, std: IMAGENET_STD } });
  let frames: Float32Array[] = [];
  for await (const c of set.read()) frames = Array.from({ length: 8 }, (_, t) => c.input.data.slice(t * 3 * 64 * 64, (t + 1) * 3 * 64 * 64));
  const run = async (ort: typeof ortNode | typeof ortWeb, file: string): Promise<Float32Array[]> => {
    const bytes = readFileSync(file);
    const opts = ort === ortWeb ? { executionProviders: ['wasm'] } : {};
    const session = await (ort.InferenceSession as typeof ortNode.InferenceSession).create(bytes, opts);
    const info = parseDeployMetadata(readOnnxMetadata(bytes), session);
    const stepper = new OnlineStepper(session, (d, s) => new (ort.Tensor as typeof ortNode.Tensor)('float32', d, s as number[]), info);
    const out: Float32Array[] = [];
    for (const f of frames) out.push(await stepper.step(f));
    assert.ok(stepper.buffers.every((b) => b.type === 'float32'), `${file}: the carried buffers are float32`);
    await session.release();
    return out;
  };
  const reference = await run(ortNode, models.online.float32);
  const argmax = (v: Float32Array) => v.indexOf(Math.max(...v));
  for (const ort of [ortNode, ortWeb]) {
    for (const precision of ['int8', 'float16'] as const) {
      const logits = await run(ort, models.online[precision]);
      // the last frames see the whole motion: their class is the float model's
      assert.equal(argmax(logits[7]), argmax(reference[7]), `${precision} on ${ort === ortWeb ? 'onnxruntime-web' : 'onnxruntime-node'}`);
    }
  }
});

test('actionRecognizer takes int8 and float16 .onnx files, for clips and (with an online model) for streams', async () => {
  const frames = join(data, 'frames');
  const inputs = readdirSync(frames).slice(0, 3).map((cls) => join(frames, cls, readdirSync(join(frames, cls))[0]));
  const float = await actionRecognizer(models.clip.float32, { threads: 1 });
  const expected = await Promise.all(inputs.map(async (i) => (await float(i, { topK: 1 }))[0].label));
  await float.dispose();
  for (const precision of ['int8', 'float16'] as const) {
    const recognize = await actionRecognizer(models.clip[precision], { threads: 1, online: models.online[precision] });
    try {
      for (const [k, input] of inputs.entries()) assert.equal((await recognize(input, { topK: 1 }))[0].label, expected[k], `${precision}: ${input}`);
      const clip = join(dir, `stream-${precision}.mp4`);
      execFileSync('ffmpeg', ['-v', 'error', '-framerate', '8', '-i', join(inputs[0], 'img_%05d.jpg'), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', clip]);
      let n = 0;
      for await (const p of recognize.stream(clip)) {
        assert.ok(card?.card.classes.includes(p.label));
        n++;
      }
      assert.ok(n > 0, `${precision}: the stream gave no predictions`);
    } finally {
      await recognize.dispose();
    }
  }
});
