/**
 * Turns a strided view of a torch storage (`storage_offset`, `size`, `stride`, all in elements) into a dense,
 * C-ordered typed array, as `tensor.contiguous()` would.
 */
import { type DType, type TypedArray, DTYPE_SIZE, numel, typedFromBytes } from '../tensor/index.js';

/** C-order (row-major) strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

/** Whether a view with these strides is already laid out in C order (dims of size 1 may have any stride). */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  const want = contiguousStrides(shape);
  return shape.every((d, i) => d === 1 || stride[i] === want[i]);
}

/**
 * Copies the elements a view selects out of `storage` into a new C-ordered array.
 * The caller has checked that every selected element lies inside the storage.
 * @param storage the storage's bytes (little-endian), `itemsize * storageNumel` long
 * @param offset first element of the view, in elements
 */
export function gatherStrided(
  dtype: DType,
  storage: Uint8Array,
  offset: number,
  shape: readonly number[],
  stride: readonly number[],
): TypedArray {
  const size = DTYPE_SIZE[dtype];
  const n = numel(shape);
  if (n === 0 || isContiguous(shape, stride)) {
    // slice() copies into a fresh, aligned buffer: one memcpy, no per-element loop.
    return typedFromBytes(dtype, storage.slice(offset * size, (offset + n) * size));
  }
  // Copy raw bit patterns in 1-, 2- or 4-byte lanes (8-byte elements are two 4-byte lanes). NOTE: never through a
  // Float64Array, which may canonicalize NaN payloads and would corrupt int64 bit patterns.
  const laneBytes = Math.min(size, 4);
  const lanes = size / laneBytes;
  const aligned = storage.byteOffset % laneBytes === 0 ? storage : storage.slice();
  const Lane = laneBytes === 4 ? Uint32Array : laneBytes === 2 ? Uint16Array : Uint8Array;
  const src = new Lane(aligned.buffer as ArrayBuffer, aligned.byteOffset, Math.floor(aligned.byteLength / laneBytes));
  const dst = new Lane(n * lanes);
  const rank = shape.length;
  const inner = shape[rank - 1];
  const innerStep = stride[rank - 1] * lanes;
  const idx = new Array<number>(rank).fill(0);
  let base = offset * lanes;
  let o = 0;
  for (let row = 0, rows = n / inner; row < rows; row++) {
    let s = base;
    if (lanes === 1) {
      for (let j = 0; j < inner; j++, s += innerStep) dst[o++] = src[s];
    } else {
      for (let j = 0; j < inner; j++, s += innerStep) {
        dst[o++] = src[s];
        dst[o++] = src[s + 1];
      }
    }
    // Odometer over the outer dims: advance the last one, carrying into earlier ones.
    for (let d = rank - 2; d >= 0; d--) {
      base += stride[d] * lanes;
      if (++idx[d] < shape[d]) break;
      base -= stride[d] * lanes * shape[d];
      idx[d] = 0;
    }
  }
  return typedFromBytes(dtype, new Uint8Array(dst.buffer));
}
