import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeSessionError, ShapeError, UsageError } from '../../src/errors.js';
import { GraphBuilder, encodeOnnx } from '../../src/graph/index.js';
import { createSession, executionProvidersFor, parseDevice, supportedBackends } from '../../src/runtime/index.js';
import { float32, hostTensor } from '../../src/tensor/index.js';

test('device names map to execution providers in one place', () => {
  assert.deepEqual(executionProvidersFor('cpu', ['cpu']), ['cpu']);
  assert.deepEqual(executionProvidersFor('auto', ['cpu']), ['cpu']);
  assert.deepEqual(executionProvidersFor('auto', ['cpu', 'cuda'], 1), [{ name: 'cuda', deviceId: 1 }, 'cpu']);
  assert.deepEqual(executionProvidersFor('webgpu', ['webgpu', 'wasm']), ['webgpu', 'wasm']);
  assert.throws(() => executionProvidersFor('cuda', ['cpu']), /ONNXRUNTIME_NODE_INSTALL=cuda12/);
  assert.throws(() => parseDevice('tpu'), (e: unknown) => e instanceof UsageError && /Must be one of \[auto, cpu, cuda, wasm, webgpu\]/.test(e.message));
  // inherited object keys are not devices
  assert.throws(() => parseDevice('toString'), (e: unknown) => e instanceof UsageError);
  assert.ok(supportedBackends().includes('cpu'));
});

test('a broken model is a RuntimeSessionError naming it, with the cause kept', async () => {
  await assert.rejects(createSession(new Uint8Array([1, 2, 3, 4]), { name: 'broken.onnx' }), (e: unknown) => {
    assert.ok(e instanceof RuntimeSessionError);
    assert.match(e.message, /broken\.onnx/);
    assert.ok(e.cause);
    return true;
  });
});

test('missing feeds and wrong shapes are reported by name', async () => {
  const g = new GraphBuilder();
  const x = g.input('frames', 'float32', [1, 3]);
  g.output(g.relu(x), 'y');
  const s = await createSession(encodeOnnx(g.build()), { name: 'tiny.onnx', threads: 1 });
  assert.deepEqual(s.inputNames, ['frames']);
  await assert.rejects(s.run({}), (e: unknown) => e instanceof ShapeError && /tiny\.onnx: missing input\(s\) frames/.test(e.message));
  await assert.rejects(s.run({ frames: float32([1, 4]) }), (e: unknown) => e instanceof RuntimeSessionError && /tiny\.onnx/.test(e.message));
  const out = await s.run({ frames: float32([1, 3], [-1, 2, -3]) });
  assert.deepEqual(Array.from(out.y.data as Float32Array), [0, 2, 0]);
  await s.release();
});

test('host tensors check their size', () => {
  assert.throws(() => hostTensor('float32', [2, 3], new Float32Array(5)), /Tensor's size\(6\) does not match data length\(5\)/);
});
