/**
 * The int8 QDQ graph: its structure (integer weights per output channel, int32 biases, shared Q/DQ scales,
 * ReLU6 folded, the shift on integers, float32 at the boundary), that onnxruntime-node fuses it into integer
 * kernels, that onnxruntime-web runs it, and that Debian's onnx checker accepts it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { buildOnlineExportGraph } from '../../src/deploy/export.js';
import { readDefaultModel } from '../../src/deploy/default-model.js';
import { type Graph, type Node, type Value, attrInt, decodeGraph, decodeOnnx, encodeOnnx } from '../../src/graph/index.js';
import { loadOnlineMobileNetV2 } from '../../src/models/online.js';
import { analyseQdq, collectStats, foldBatchNorm, insertQdq, quantParams, quantizeWeights, rangesFrom } from '../../src/quantize/index.js';
import { createSession } from '../../src/runtime/index.js';
import { type HostTensor, float32, hostTensor } from '../../src/tensor/index.js';
import { onlineCheckpoint, onlineSteps } from '../deploy/online-fixture.js';
import { runPython } from '../helpers/python.js';
import { makeRng, randn } from '../helpers/rng.js';

let folded: Graph;
let quantized: Graph;
let state: Record<string, string>;
let frames: HostTensor<'float32'>[];

const consumers = (g: Graph, v: Value): Node[] => g.nodes.filter((n) => n.inputs.includes(v));
const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
};

before(async () => {
  const { model } = await loadOnlineMobileNetV2(onlineCheckpoint());
  const exported = buildOnlineExportGraph(model, { inputSize: 112 });
  folded = foldBatchNorm(exported.graph);
  state = Object.fromEntries(exported.info.bufferInputs.map((n, i) => [n, exported.info.bufferOutputs[i]]));
  frames = (await onlineSteps()).map((s) => s.input as HostTensor<'float32'>);
  const a = analyseQdq(folded, { state });
  async function* clips() {
    yield frames;
    yield [...frames].reverse();
  }
  const stats = await collectStats(folded, a.calibrate, clips(), { inputName: 'frame', state, histograms: false });
  quantized = insertQdq(folded, rangesFrom(stats, 'minmax'), { state });
});

test('weights are int8 per output channel, biases int32 at input scale x weight scale, inputs and outputs float32', () => {
  const convs = quantized.nodes.filter((n) => n.op === 'Conv' || n.op === 'Gemm');
  assert.equal(convs.length, folded.nodes.filter((n) => n.op === 'Conv' || n.op === 'Gemm').length);
  for (const c of convs) {
    const [x, w, b] = c.inputs as Value[];
    assert.equal(x.producer?.op, 'DequantizeLinear', `${c.name} reads a dequantized activation`);
    const wdq = w.producer as Node;
    assert.equal(wdq.op, 'DequantizeLinear');
    const [wq, ws, wz] = wdq.inputs as Value[];
    assert.equal(wq.constant?.dtype, 'int8');
    assert.equal(attrInt(wdq.attrs, 'axis', 1), 0, 'per output channel');
    assert.deepEqual(ws.shape, [wq.shape[0]]);
    assert.ok((wz.constant?.data as Int8Array).every((z) => z === 0), 'symmetric weights');
    assert.ok((wq.constant?.data as Int8Array).every((q) => q >= -127 && q <= 127));
    const bdq = b.producer as Node;
    assert.equal(bdq.inputs[0]?.constant?.dtype, 'int32');
    const xScale = (x.producer?.inputs[1]?.constant?.data as Float32Array)[0];
    const wScales = ws.constant?.data as Float32Array;
    const bScales = bdq.inputs[1]?.constant?.data as Float32Array;
    bScales.forEach((s, i) => assert.equal(s, Math.fround(xScale * wScales[i])));
  }
  assert.deepEqual(quantized.inputs.map((v) => [v.name, v.dtype]), folded.inputs.map((v) => [v.name, 'float32']));
  assert.deepEqual(quantized.outputs.map((v) => [v.name, v.dtype]), folded.outputs.map((v) => [v.name, 'float32']));
});

test('ReLU6 after a quantised conv is folded into its Q, and the shift slices and concatenates integers', () => {
  assert.equal(quantized.nodes.filter((n) => n.op === 'Clip').length, 0, 'every Clip(0, 6) follows a conv and is folded');
  for (const n of quantized.nodes.filter((x) => x.op === 'Slice' || x.op === 'Concat')) {
    assert.ok(n.inputs.slice(0, n.op === 'Concat' ? undefined : 1).every((v) => v?.dtype === 'uint8'), `${n.name} runs on uint8`);
  }
  for (const [input, output] of Object.entries(state)) {
    const v = quantized.inputs.find((x) => x.name === input) as Value;
    const [q] = consumers(quantized, v);
    assert.equal(q.op, 'QuantizeLinear', `${input} is requantised once`);
    const out = quantized.outputs.find((x) => x.name === output) as Value;
    assert.equal(out.producer?.op, 'DequantizeLinear');
    // the buffer is requantised with the scale and zero point it was dequantized with: no error is added
    assert.equal(q.inputs[1], out.producer?.inputs[1]);
    assert.equal(q.inputs[2], out.producer?.inputs[2]);
  }
});

test('float-carried state requantises exactly: Q(DQ(q)) = q for every uint8 at any scale', () => {
  const rng = makeRng(5);
  for (let k = 0; k < 200; k++) {
    const lo = -rng.uniform() * 20;
    const p = quantParams({ min: lo, max: rng.uniform() * 20 }, 'uint8');
    const s = Math.fround(p.scale);
    for (let q = 0; q < 256; q++) {
      const x = Math.fround((q - p.zeroPoint) * s); // DequantizeLinear in float32
      const back = Math.min(255, Math.max(0, Math.round(Math.fround(x / s)) + p.zeroPoint)); // QuantizeLinear
      assert.equal(back, q, `scale ${s} zero point ${p.zeroPoint}`);
    }
  }
});

test('weight quantisation: the nearest grid point per channel, the largest magnitude at +-127', () => {
  const w = float32([3, 2], [0.5, -1, 0, 0, 2, 0.02]);
  const { q, scales } = quantizeWeights(w, 0);
  assert.deepEqual(Array.from(q), [64, -127, 0, 0, 127, 1]);
  assert.deepEqual(Array.from(scales), [Math.fround(1 / 127), 1, Math.fround(2 / 127)]);
});

test('onnxruntime-node fuses the QDQ graph into integer kernels, and its logits follow the float model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-qdq-'));
  const file = join(dir, 'optimized.onnx');
  await ortNode.InferenceSession.create(encodeOnnx(quantized), { graphOptimizationLevel: 'all', optimizedModelFilePath: file, intraOpNumThreads: 1 });
  const ops = decodeOnnx(readFileSync(file)).graph?.node?.map((n) => `${n.domain ? `${n.domain}:` : ''}${n.opType}`) ?? [];
  const count = (op: string) => ops.filter((o) => o === op).length;
  assert.equal(count('com.microsoft:QLinearConv'), folded.nodes.filter((n) => n.op === 'Conv').length, 'every conv runs as QLinearConv');
  assert.equal(count('com.microsoft:QLinearAdd'), folded.nodes.filter((n) => n.op === 'Add').length);
  assert.equal(count('com.microsoft:QGemm'), 1);
  assert.equal(count('Conv') + count('FusedConv') + count('Gemm'), 0, 'no float conv or gemm is left');
  // only the graph boundary is (de)quantized: the frame and 10 buffers in, 10 buffers out
  assert.equal(count('QuantizeLinear'), 11);
  assert.equal(count('DequantizeLinear'), 10);

  const [f, q] = await Promise.all([createSession(encodeOnnx(folded)), createSession(encodeOnnx(quantized))]);
  let fs: Record<string, HostTensor> = Object.fromEntries(Object.keys(state).map((n) => [n, float32(folded.inputs.find((v) => v.name === n)?.shape as number[])]));
  let qs = fs;
  for (const frame of frames) {
    const a = await f.run({ frame, ...fs });
    const b = await q.run({ frame, ...qs });
    // NOTE: a sanity bound (a wrong scale or axis gives a cosine near 0); the accuracy bounds are in fixtures.test.ts
    const c = cosine(a.logits.data as Float32Array, b.logits.data as Float32Array);
    assert.ok(c > 0.95, `int8 logits point where the float ones do (cosine ${c})`);
    fs = Object.fromEntries(Object.entries(state).map(([i, o]) => [i, a[o]]));
    qs = Object.fromEntries(Object.entries(state).map(([i, o]) => [i, b[o]]));
  }
});

test('onnxruntime-web (wasm) runs the int8 graph to the same logits as onnxruntime-node', async () => {
  const bytes = encodeOnnx(quantized);
  const web = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const node = await createSession(bytes);
  const feeds = { frame: frames[0], ...Object.fromEntries(Object.keys(state).map((n) => [n, float32(quantized.inputs.find((v) => v.name === n)?.shape as number[])])) };
  const webOut = await web.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ortWeb.Tensor('float32', t.data as Float32Array, t.shape as number[])])));
  const nodeOut = await node.run(feeds);
  const a = webOut.logits.data as Float32Array;
  const b = nodeOut.logits.data as Float32Array;
  // both run the same integer arithmetic; requantisation may round a value one step apart between kernels
  assert.ok(cosine(a, b) > 0.999, `wasm and CPU logits differ: ${Array.from(a).slice(0, 4)} vs ${Array.from(b).slice(0, 4)}`);
});

test('Debian onnx checker accepts the int8 model (full check)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-qdq-'));
  const file = join(dir, 'int8.onnx');
  writeFileSync(file, encodeOnnx(quantized));
  const out = runPython('import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print(len(m.graph.input), len(m.graph.output))', [file]);
  assert.equal(out.trim(), '11 11');
});

test("the clip model's shift pads its zero point, so shifted-in frames dequantize to exactly 0", async () => {
  const file = readDefaultModel()?.file('clip', 'onnx');
  assert.ok(file);
  const g = foldBatchNorm(decodeGraph(readFileSync(file)));
  const a = analyseQdq(g);
  const rng = makeRng(2);
  const x = hostTensor('float32', [1, 12, 64, 64], randn(rng, 12 * 64 * 64));
  async function* clips() {
    yield [x];
  }
  const q = insertQdq(g, rangesFrom(await collectStats(g, a.calibrate, clips(), { inputName: 'input', histograms: false }), 'minmax'));
  const pads = q.nodes.filter((n) => n.op === 'Pad');
  assert.ok(pads.length > 0);
  for (const p of pads) {
    assert.equal(p.inputs[0]?.dtype, 'uint8');
    const zp = p.inputs[2] as Value;
    assert.equal(zp.constant?.dtype, 'uint8');
    // the zero point the Pad writes is the one its output is dequantized with
    const reader = consumers(q, p.outputs[0])[0];
    assert.ok(reader.op === 'Concat');
    const dq = q.nodes.find((n) => n.op === 'DequantizeLinear' && n.inputs[0] === consumers(q, reader.outputs[0])[0]?.outputs[0]);
    if (dq) assert.equal(dq.inputs[2], zp);
  }
  const s = await createSession(encodeOnnx(q));
  const out = await s.run({ input: x });
  assert.deepEqual(out.logits.shape, [1, 8]);
});
