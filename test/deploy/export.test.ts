import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { before, test } from 'node:test';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import type { ExportResult } from '../../src/deploy/export.js';
import { readLabelsFile } from '../../src/deploy/export.js';
import { JESTER_LABELS } from '../../src/deploy/labels.js';
import { openOnlineModel } from '../../src/deploy/live.js';
import { DEPLOY_METADATA_KEYS, parseDeployMetadata } from '../../src/deploy/metadata.js';
import { readOnnxMetadata } from '../../src/deploy/onnx-metadata.js';
import { OnlineStepper } from '../../src/deploy/online-stepper.js';
import { UsageError } from '../../src/errors.js';
import { decodeOnnx } from '../../src/graph/index.js';
import { assertClose, assertWithin } from '../helpers/assert-close.js';
import { runPython } from '../helpers/python.js';
import { type FixtureStep, exportOnlineFixture, onlineCheckpoint, onlineSteps, onlineTolerance } from './online-fixture.js';

let exported: ExportResult;
let bytes: Uint8Array;
let steps: FixtureStep[];

before(async () => {
  exported = await exportOnlineFixture({ inputSize: 112 });
  bytes = readFileSync(exported.path);
  steps = await onlineSteps();
});

test('the online export carries labels, sizes, normalization and buffer names/shapes in its metadata', () => {
  const meta = readOnnxMetadata(bytes);
  const viaProtobuf = Object.fromEntries(decodeOnnx(bytes).metadataProps.map((p) => [p.key, p.value]));
  assert.deepEqual(meta, viaProtobuf);
  const info = parseDeployMetadata(meta);
  assert.equal(info.kind, 'online');
  assert.equal(info.arch, 'mobilenetv2');
  assert.equal(info.numClasses, 27);
  assert.deepEqual(info.labels, JESTER_LABELS);
  assert.equal(info.defaultLabels, false);
  assert.deepEqual(info.inputSize, [112, 112]);
  assert.equal(info.scaleSize, 128);
  assert.deepEqual(info.mean, [0.485, 0.456, 0.406]);
  assert.deepEqual(info.std, [0.229, 0.224, 0.225]);
  assert.deepEqual(info.bufferInputs, Array.from({ length: 10 }, (_, i) => `buffer_${i}`));
  assert.deepEqual(info.bufferOutputs, Array.from({ length: 10 }, (_, i) => `buffer_out_${i}`));
  // the fixture's initial_buffer_shapes at 112
  assert.deepEqual(info.bufferShapes, steps[0].outBuffers.map((b) => b.shape));
  assert.equal(meta[DEPLOY_METADATA_KEYS.kind], 'online');
  // the file is complete and no temporary file is left beside it
  assert.deepEqual(readdirSync(dirname(exported.path)), ['online.onnx']);
  assert.equal(bytes.length, exported.bytes);
});

test('Debian python3-onnx checker accepts the online export (full check)', () => {
  const out = runPython('import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print(m.opset_import[0].version, len(m.graph.input), len(m.graph.output))', [
    exported.path,
  ]);
  assert.equal(out.trim(), '17 11 11');
});

/**
 * Runs the fixture's frames through a stepper; checks logits against PyTorch every step, at the fixture manifest's
 * tolerance (the fixture's own: kept as the manifest gives it).
 */
async function checkAgainstTorch<T extends { dims: readonly number[]; data: unknown }>(stepper: OnlineStepper<T>, what: string): Promise<Float32Array[]> {
  const tol = onlineTolerance();
  const all: Float32Array[] = [];
  for (const [t, s] of steps.entries()) {
    const logits = await stepper.step(s.input.data as Float32Array);
    assertClose(logits, s.logits.data as Float32Array, { ...tol, what: `${what} step ${t} logits` });
    all.push(logits);
  }
  return all;
}

test('onnxruntime-node runs the export frame by frame and matches PyTorch and our own runtime', async () => {
  const session = await ortNode.InferenceSession.create(bytes);
  const info = parseDeployMetadata(readOnnxMetadata(bytes), session);
  const stepper = new OnlineStepper(session, (d, s) => new ortNode.Tensor('float32', d, s as number[]), info);
  const logits = await checkAgainstTorch(stepper, 'onnxruntime-node');
  assert.equal(stepper.steps, 3);
  // the last buffers handed back are PyTorch's step-2 out buffers
  const live = await openOnlineModel({ weights: onlineCheckpoint(), inputSize: 112, threads: 1 });
  const tol = onlineTolerance();
  for (const [t, s] of steps.entries()) {
    const ours = await live.stepper.step(s.input.data as Float32Array);
    // two fp32 runs (other session options) each within the fixture tolerance of PyTorch: within the sum of both
    const torch = s.logits.data as Float32Array;
    assertWithin(logits[t], ours, Array.from(torch, (v) => 2 * (tol.atol + tol.rtol * Math.abs(v))), `step ${t}: export vs openOnlineModel`);
    assertClose(ours, torch, { ...tol, what: `step ${t}: openOnlineModel vs PyTorch` });
  }
  await live.release();
  // reset: the first step again gives step 0's logits; the same session on the same input and (zero) buffers
  // computes the same operations in the same order: exact
  stepper.reset();
  assertWithin(await stepper.step(steps[0].input.data as Float32Array), logits[0], 0, 'after reset');
  await session.release();
});

test('onnxruntime-web (wasm) runs the export and matches PyTorch', async () => {
  ortWeb.env.wasm.numThreads = 1;
  const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const info = parseDeployMetadata(readOnnxMetadata(bytes), session);
  const stepper = new OnlineStepper(session, (d, s) => new ortWeb.Tensor('float32', d, s as number[]), info);
  await checkAgainstTorch(stepper, 'onnxruntime-web');
  await session.release();
});

test('the exported buffers are PyTorch\'s out buffers', async () => {
  const session = await ortNode.InferenceSession.create(bytes);
  const tol = onlineTolerance();
  const feeds: Record<string, ortNode.Tensor> = {};
  steps[0].outBuffers.forEach((b, i) => (feeds[`buffer_${i}`] = new ortNode.Tensor('float32', new Float32Array(b.data.length), b.shape as number[])));
  for (const [t, s] of steps.entries()) {
    feeds.frame = new ortNode.Tensor('float32', s.input.data as Float32Array, s.input.shape as number[]);
    const out = await session.run(feeds);
    s.outBuffers.forEach((b, i) => {
      assertClose(out[`buffer_out_${i}`].data as Float32Array, b.data as Float32Array, { ...tol, what: `step ${t} buffer_out_${i}` });
      feeds[`buffer_${i}`] = out[`buffer_out_${i}`];
    });
  }
  await session.release();
});

test('opset 18 exports run; labels must match the class count; bad opsets are usage errors', async () => {
  const r = await exportOnlineFixture({ inputSize: 112, opset: 18, labels: Array.from({ length: 27 }, (_, i) => `g${i}`) });
  const b = readFileSync(r.path);
  assert.equal(Number(decodeOnnx(b).opsetImport[0].version), 18);
  assert.equal(parseDeployMetadata(readOnnxMetadata(b)).labels[26], 'g26');
  const session = await ortNode.InferenceSession.create(b);
  const stepper = new OnlineStepper(session, (d, s) => new ortNode.Tensor('float32', d, s as number[]), parseDeployMetadata(readOnnxMetadata(b)));
  assertClose(await stepper.step(steps[0].input.data as Float32Array), steps[0].logits.data as Float32Array, { ...onlineTolerance(), what: 'opset 18' });
  await session.release();
  await assert.rejects(exportOnlineFixture({ labels: ['a', 'b'] }), /got 2 labels for a model with 27 classes/);
  await assert.rejects(exportOnlineFixture({ opset: 11 }), (e: unknown) => e instanceof UsageError && /for opset but received 11/.test(e.message));
});

test('readLabelsFile drops trailing blanks and rejects empty files', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'tsm-labels-'));
  writeFileSync(join(dir, 'l.txt'), 'wave \r\nclap\n\n');
  assert.deepEqual(await readLabelsFile(join(dir, 'l.txt')), ['wave', 'clap']);
  writeFileSync(join(dir, 'e.txt'), '\n');
  await assert.rejects(readLabelsFile(join(dir, 'e.txt')), /is empty/);
  await assert.rejects(readLabelsFile(join(dir, 'missing.txt')), /cannot read labels file/);
});

test('clip export of the TSM-MobileNetV2 fixture: dynamic batch, checker, onnxruntime-node and -web match PyTorch', async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { exportCheckpoint } = await import('../../src/deploy/export.js');
  const { fixtureCase, fixtureNpy, fixturePath } = await import('../helpers/fixtures.js');
  const fx = fixtureCase('tsm_mobilenetv2');
  const files = fx.files as { input: string; logits: string; checkpoint_zip: string };
  // the fixture manifest's tolerance, kept as the manifest gives it
  const tol = fx.tolerance as { atol: number; rtol: number };
  const input = await fixtureNpy(files.input); // [2, 24, 112, 112]
  const expected = await fixtureNpy(files.logits); // [2, 27]
  const dir = mkdtempSync(join(tmpdir(), 'tsm-export-clip-'));
  const notes: string[] = [];
  const out = join(dir, 'clip.onnx');
  const r = await exportCheckpoint({ weights: fixturePath(files.checkpoint_zip), out, inputSize: 112, dynamicBatch: true, overrides: { numSegments: 8 }, onNote: (n) => notes.push(n) });
  assert.equal(r.kind, 'clip');
  assert.match(notes.join('\n'), /mobilenetv2, 27 classes, 8 segments, RGB, shift 1\/8/);
  const b = readFileSync(out);
  const info = parseDeployMetadata(readOnnxMetadata(b));
  assert.equal(info.kind, 'clip');
  assert.equal(info.segments, 8);
  assert.equal(info.arch, 'mobilenetv2');
  assert.equal(info.dynamicBatch, true);
  assert.deepEqual(info.inputSize, [112, 112]);
  const graph = decodeOnnx(b).graph!;
  assert.deepEqual(graph.input![0].type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue)), ['B', 24, 112, 112]);
  assert.equal(runPython('import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print("ok")', [out]).trim(), 'ok');

  const nodeSession = await ortNode.InferenceSession.create(b);
  const nodeOut = await nodeSession.run({ input: new ortNode.Tensor('float32', input.data as Float32Array, input.shape as number[]) });
  assertClose(nodeOut.logits.data as Float32Array, expected.data as Float32Array, { ...tol, what: 'clip logits (onnxruntime-node)' });
  await nodeSession.release();
  ortWeb.env.wasm.numThreads = 1;
  const webSession = await ortWeb.InferenceSession.create(b, { executionProviders: ['wasm'] });
  const webOut = await webSession.run({ input: new ortWeb.Tensor('float32', input.data as Float32Array, input.shape as number[]) });
  assertClose(webOut.logits.data as Float32Array, expected.data as Float32Array, { ...tol, what: 'clip logits (onnxruntime-web)' });
  await webSession.release();

  // default: a static batch of 1
  const one = await exportCheckpoint({ weights: fixturePath(files.checkpoint_zip), out: join(dir, 'one.onnx'), inputSize: 112, overrides: { numSegments: 8 } });
  const oneGraph = decodeOnnx(readFileSync(one.path)).graph!;
  assert.equal(Number(oneGraph.input![0].type!.tensorType!.shape!.dim![0].dimValue), 1);
  await assert.rejects(exportCheckpoint({ weights: onlineCheckpoint(), out: join(dir, 'x.onnx'), online: true, dynamicBatch: true }), /clip model only/);
});
