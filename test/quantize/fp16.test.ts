import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { readDefaultModel } from '../../src/deploy/default-model.js';
import { decodeGraph, encodeOnnx } from '../../src/graph/index.js';
import { FLOAT16_MAX, convertToFloat16, floatToHalf, foldBatchNorm, toFloat16 } from '../../src/quantize/index.js';
import { createSession } from '../../src/runtime/index.js';
import { type HostTensor, float32, halfToFloat, hostTensor } from '../../src/tensor/index.js';
import { runPython } from '../helpers/python.js';
import { makeRng, randn } from '../helpers/rng.js';

test('floatToHalf rounds to nearest even exactly as numpy astype(float16), subnormals and overflow included', () => {
  const rng = makeRng(9);
  const values = [
    0, 1, -1, 65504, 65519, 65520, -70000, 1e-8, 5.960464477539063e-8, 2.98e-8, 6.1e-5, 6.103515625e-5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.1, 1 / 3,
    ...Array.from({ length: 300 }, () => rng.normal() * 10 ** (rng.int(12) - 6)),
  ].map(Math.fround);
  const bits = JSON.parse(runPython('import numpy as np, json, sys; print(json.dumps(np.array(json.loads(sys.argv[1]), dtype=np.float32).astype(np.float16).view(np.uint16).tolist()))', [JSON.stringify(values)]));
  values.forEach((v, i) => assert.equal(floatToHalf(v), bits[i], `${v}: 0x${floatToHalf(v).toString(16)} vs numpy 0x${bits[i].toString(16)}`));
  assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
  assert.equal(floatToHalf(-0), 0x8000); // JSON cannot carry -0 to numpy
});

test('weights past the float16 range are clamped to +-65504, not made infinite', () => {
  const { tensor, clamped } = toFloat16(float32([3], [1e6, -1e6, 2]));
  assert.equal(clamped, 2);
  assert.deepEqual(Array.from(tensor.data, halfToFloat), [FLOAT16_MAX, -FLOAT16_MAX, 2]);
});

test('the fp16 model keeps float32 inputs and outputs, holds float16 weights, and its logits are within float16 rounding', async () => {
  const file = readDefaultModel()?.file('online', 'onlineOnnx');
  assert.ok(file);
  const g = decodeGraph(readFileSync(file));
  const { graph: h } = convertToFloat16(foldBatchNorm(g));
  assert.deepEqual(h.inputs.map((v) => v.dtype), g.inputs.map(() => 'float32'));
  assert.deepEqual(h.outputs.map((v) => [v.name, v.dtype]), g.outputs.map((v) => [v.name, 'float32']));
  const weights = [...h.initializers.values()].filter((e) => e.tensor.shape.length === 4);
  assert.ok(weights.length > 50 && weights.every((e) => e.tensor.dtype === 'float16'));
  assert.ok(h.nodes.filter((n) => n.op === 'Conv').every((n) => n.outputs[0].dtype === 'float16'), 'activations are float16');
  const bytes32 = encodeOnnx(g).length;
  const bytes16 = encodeOnnx(h).length;
  assert.ok(bytes16 < 0.55 * bytes32, `fp16 file ${bytes16} B vs fp32 ${bytes32} B`);

  const rng = makeRng(4);
  const feeds: Record<string, HostTensor> = {};
  for (const v of g.inputs) feeds[v.name] = hostTensor('float32', v.shape as number[], randn(rng, (v.shape as number[]).reduce((a, b) => a * b, 1)));
  const [a, b] = await Promise.all([createSession(encodeOnnx(g)), createSession(encodeOnnx(h))]);
  const x = (await a.run(feeds)).logits.data as Float32Array;
  const y = (await b.run(feeds)).logits.data as Float32Array;
  // each of the ~60 layers rounds its weights and output to 11 significant bits (u = 2^-11): allow one u per layer
  const bound = 60 * 2 ** -11 * Math.max(...Array.from(x, Math.abs));
  x.forEach((v, i) => assert.ok(Math.abs(v - y[i]) <= bound, `logit ${i}: ${y[i]} vs ${v} (bound ${bound})`));
  assert.ok(x.some((v, i) => v !== y[i]), 'the fp16 model computes in float16');
});
