import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MODEL_DIR, readDefaultModel } from '../../src/deploy/default-model.js';
import { UsageError } from '../../src/errors.js';
import onnxProto from 'onnx-proto';
import { GraphBuilder, decodeGraph, encodeOnnx, sym, toModelProto } from '../../src/graph/index.js';
import { createSession } from '../../src/runtime/index.js';
import { float32 } from '../../src/tensor/index.js';
import { makeRng, randn } from '../helpers/rng.js';

const { onnx } = onnxProto;

test('a model read back encodes to the same bytes and keeps shapes, constants and metadata', () => {
  const card = readDefaultModel();
  assert.ok(card, `no model card in ${DEFAULT_MODEL_DIR}`);
  for (const file of [card.file('clip', 'onnx'), card.file('online', 'onlineOnnx')]) {
    assert.ok(file);
    const bytes = readFileSync(file);
    const g = decodeGraph(bytes);
    assert.equal(Buffer.compare(encodeOnnx(g), bytes), 0, `${file} changes when read and written again`);
    assert.equal(g.opset, 17);
    assert.ok(g.initializers.size > 100);
    // every intermediate value has a static shape from the shape rules
    for (const n of g.nodes) for (const o of n.outputs) assert.ok(o.shape.every((d) => typeof d === 'number'), `${o.name} has shape ${JSON.stringify(o.shape)}`);
    const w = [...g.initializers.values()].find((e) => e.tensor.shape.length === 4);
    assert.ok(w?.value.constant, 'initializers carry their contents');
  }
});

test('symbolic batch dims, typed-field tensors and every attribute kind survive a round trip', async () => {
  const rng = makeRng(3);
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [sym('B'), 4]);
  const y = b.linear(b.reshape(b.reshape(x, [-1, 2, 2]), [-1, 4]), b.param('fc.weight', float32([3, 4], randn(rng, 12))));
  b.output(b.softmax(b.mul(y, b.scalar(0.5)), -1), 'p');
  b.setMetadata('k', 'v');
  const g = b.build();
  const back = decodeGraph(encodeOnnx(g));
  assert.deepEqual(back.inputs[0].shape, [{ symbol: 'B', factor: 1 }, 4]);
  assert.equal(back.metadata.get('k'), 'v');
  assert.equal(Buffer.compare(encodeOnnx(back), encodeOnnx(g)), 0);
  const input = float32([2, 4], randn(rng, 8));
  const [a, c] = await Promise.all([createSession(encodeOnnx(g)), createSession(encodeOnnx(back))]);
  assert.deepEqual((await a.run({ x: input })).p.data, (await c.run({ x: input })).p.data);
});

test('initializers stored in the typed fields (float_data, int64_data) read as the raw ones do', () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [2, 3]);
  b.output(b.reshape(b.add(x, b.param('bias', float32([3], [0.5, -1, 2]))), [3, 2]), 'y');
  const proto = toModelProto(b.build());
  for (const t of proto.graph?.initializer ?? []) {
    const typed = decodeGraph(encodeOnnx(b.build())).initializers.get(t.name ?? '')?.tensor;
    assert.ok(typed);
    if (typed.dtype === 'float32') t.floatData = Array.from(typed.data as Float32Array);
    else t.int64Data = Array.from(typed.data as BigInt64Array, Number);
    t.rawData = undefined;
  }
  const g = decodeGraph(onnx.ModelProto.encode(proto).finish());
  assert.deepEqual(Array.from(g.initializers.get('bias')?.tensor.data as Float32Array), [0.5, -1, 2]);
  assert.deepEqual(g.outputs[0].shape, [3, 2], 'the Reshape target read from int64_data');
});

test('bytes that are not ONNX, or nodes out of order, are refused with a UsageError', () => {
  assert.throws(() => decodeGraph(Uint8Array.of(0xff, 0xff, 0xff)), (e: unknown) => e instanceof UsageError && /not an ONNX model/.test(e.message));
  assert.throws(() => decodeGraph(readFileSync(join(DEFAULT_MODEL_DIR, 'labels.txt'))), UsageError);
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [2]);
  b.output(b.relu(b.neg(x)), 'y');
  const g = b.build();
  const reversed = encodeOnnx({ ...g, nodes: [...g.nodes].reverse() });
  assert.throws(() => decodeGraph(reversed), (e: unknown) => e instanceof UsageError && /before any node writes it/.test(e.message));
});
