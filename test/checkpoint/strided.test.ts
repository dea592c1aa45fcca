import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contiguousStrides, gatherStrided, isContiguous } from '../../src/checkpoint/strided.js';
import { type DType, DTYPE_SIZE } from '../../src/tensor/index.js';
import { makeRng } from '../helpers/rng.js';

/** The obvious per-element gather, one index at a time. */
function naive(size: number, storage: Uint8Array, offset: number, shape: number[], stride: number[]): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(n * size);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let src = offset;
    for (let d = shape.length - 1; d >= 0; d--) {
      src += (rem % shape[d]) * stride[d];
      rem = Math.floor(rem / shape[d]);
    }
    out.set(storage.subarray(src * size, (src + 1) * size), i * size);
  }
  return out;
}

test('contiguousStrides and isContiguous', () => {
  assert.deepEqual(contiguousStrides([2, 3, 4]), [12, 4, 1]);
  assert.deepEqual(contiguousStrides([]), []);
  assert.ok(isContiguous([2, 1, 4], [4, 99, 1]), 'size-1 dims may have any stride');
  assert.ok(!isContiguous([4, 5], [1, 4]));
});

test('gatherStrided matches a naive gather on random views (permutations, steps, offsets, zero strides), every element size', () => {
  const rng = makeRng(1234);
  const dtypes: DType[] = ['float32', 'float64', 'float16', 'int64', 'int32', 'uint8'];
  for (let trial = 0; trial < 300; trial++) {
    const dtype = dtypes[trial % dtypes.length];
    const size = DTYPE_SIZE[dtype];
    const rank = 1 + rng.int(4);
    const shape = Array.from({ length: rank }, () => 1 + rng.int(5));
    // Lay out a random permutation of a padded C-order base, then maybe step and zero some strides.
    const base = contiguousStrides(shape.map((d) => d + rng.int(2)));
    const perm = shape.map((_, i) => i).sort(() => rng.uniform() - 0.5);
    const stride = perm.map((p, i) => (rng.uniform() < 0.15 ? 0 : base[p] * (shape[i] > 1 && rng.uniform() < 0.2 ? 2 : 1)));
    const offset = rng.int(7);
    const last = offset + shape.reduce((s, d, i) => s + (d - 1) * stride[i], 0);
    // Random bytes for storage (any bit pattern, NaN payloads included) in a misaligned view.
    const raw = Uint8Array.from({ length: (last + 1) * size + 3 }, () => rng.int(256));
    const storage = raw.subarray(3);
    const got = gatherStrided(dtype, storage, offset, shape, stride);
    const want = naive(size, storage, offset, shape, stride);
    assert.deepEqual(new Uint8Array(got.buffer, got.byteOffset, got.byteLength), want, `${dtype} shape [${shape}] stride [${stride}] offset ${offset}`);
  }
});

test('a contiguous view is one copy that does not share the storage', () => {
  const storage = new Uint8Array(new Float32Array([1, 2, 3, 4, 5]).buffer);
  const got = gatherStrided('float32', storage, 1, [2, 2], [2, 1]);
  assert.deepEqual([...(got as Float32Array)], [2, 3, 4, 5]);
  assert.notEqual(got.buffer, storage.buffer);
});
