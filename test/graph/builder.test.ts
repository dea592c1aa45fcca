import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphBuilder, decodeOnnx, encodeOnnx, sym, shapeToString } from '../../src/graph/index.js';
import { ShapeError } from '../../src/errors.js';
import { createSession } from '../../src/runtime/index.js';
import { float32 } from '../../src/tensor/index.js';
import { assertWithin } from '../helpers/assert-close.js';

test('conv + relu with hand-computed values runs in onnxruntime', async () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [1, 1, 3, 3]);
  const w = g.param('conv.weight', float32([1, 1, 2, 2], [1, 0, 0, -1]));
  const y = g.relu(g.conv(x, w, g.param('conv.bias', float32([1], [0.5]))));
  assert.deepEqual(y.shape, [1, 1, 2, 2]);
  g.output(y, 'y');
  const s = await createSession(encodeOnnx(g.build()));
  const out = await s.run({ x: float32([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]) });
  // x[i,j] - x[i+1,j+1] + 0.5 = -4 + 0.5 everywhere -> relu 0; small integers and halves: exact in fp32
  assertWithin(out.y.data as Float32Array, [0, 0, 0, 0], 0);
});

test('symbolic batch dimension flows through reshape and is written as dim_param', async () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [sym('B'), 6, 2, 2]);
  const v = g.reshape(x, [-1, 3, 2, 2]);
  assert.equal(shapeToString(v.shape), '[B*2,3,2,2]');
  const back = g.reshape(v, [-1, 6, 2, 2]);
  assert.equal(shapeToString(back.shape), '[B,6,2,2]');
  g.output(back, 'y');
  const bytes = encodeOnnx(g.build());
  const proto = decodeOnnx(bytes);
  assert.equal(proto.graph?.input?.[0].type?.tensorType?.shape?.dim?.[0].dimParam, 'B');
  const s = await createSession(bytes);
  for (const b of [1, 3]) {
    const data = Float32Array.from({ length: b * 24 }, (_, i) => i);
    const out = await s.run({ x: float32([b, 6, 2, 2], data) });
    assert.deepEqual(out.y.shape, [b, 6, 2, 2]);
    assertWithin(out.y.data as Float32Array, data, 0, 'reshape moves data only'); // exact
  }
});

test('shape errors name the node and both shapes', () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [2, 3, 8, 8]);
  const w = g.param('layer1.0.conv1.weight', float32([64, 64, 1, 1]));
  g.scope('layer1.0.conv1', () => {
    assert.throws(() => g.conv(x, w, undefined), (e: unknown) => {
      assert.ok(e instanceof ShapeError);
      assert.match(e.message, /Conv "layer1\.0\.conv1\/Conv": input has 3 channels, weight expects 64 \(shape \[2,3,8,8\] vs \[64,64,1,1\]/);
      return true;
    });
  });
});
