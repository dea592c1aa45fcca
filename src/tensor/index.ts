/**
 * Host tensors: plain typed arrays with a dtype and a shape. Shared by the checkpoint reader, the runtime and
 * the data pipeline; no onnxruntime or Node dependency, so it also runs in the browser.
 */
import { ShapeError } from '../errors.js';

/** Element types we store and exchange. Names follow ONNX/numpy spelling. */
export const DTYPES = Object.freeze({
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
} as const);

/** One of {@link DTYPES}. */
export type DType = keyof typeof DTYPES;

/** The typed array behind each dtype. float16 is kept as raw `Uint16Array` bits. */
export interface TypedArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

/** Any typed array a {@link HostTensor} can hold. */
export type TypedArray = TypedArrayOf[DType];

/** A dense, C-ordered tensor in host memory. */
export interface HostTensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: TypedArrayOf[D];
}

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = Object.freeze({
  float32: 4,
  float64: 8,
  float16: 2,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
});

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

type TypedArrayCtor = (new (n: number) => TypedArray) & (new (b: ArrayBufferLike, o: number, n: number) => TypedArray);

/** The typed array that holds each dtype (float16 as raw bits). */
export const TYPED_ARRAY_CTORS: Readonly<Record<DType, TypedArrayCtor>> = Object.freeze({
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
});

/** Allocates a zero-filled typed array of `dtype` with `n` elements. */
export function allocTyped<D extends DType>(dtype: D, n: number): TypedArrayOf[D] {
  return new TYPED_ARRAY_CTORS[dtype](n) as TypedArrayOf[D];
}

/**
 * Views little-endian bytes as a typed array of `dtype` (copies when `bytes` is not aligned for it).
 * @throws {ShapeError} when the byte length is not a multiple of the element size
 */
export function typedFromBytes<D extends DType>(dtype: D, bytes: Uint8Array): TypedArrayOf[D] {
  const size = DTYPE_SIZE[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new ShapeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements (${size} bytes each)`);
  }
  // NOTE: Buffer#slice returns a view, not a copy; Uint8Array's slice always copies into a fresh, aligned buffer.
  const aligned = bytes.byteOffset % size === 0 ? bytes : Uint8Array.prototype.slice.call(bytes);
  const n = bytes.byteLength / size;
  return new TYPED_ARRAY_CTORS[dtype](aligned.buffer, aligned.byteOffset, n) as TypedArrayOf[D];
}

/**
 * Makes a {@link HostTensor}, checking that the data length matches the shape.
 * @throws {ShapeError} `Tensor's size(6) does not match data length(5).`
 */
export function hostTensor<D extends DType>(dtype: D, shape: readonly number[], data: TypedArrayOf[D]): HostTensor<D> {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`invalid dimension ${d} in shape [${shape.join(',')}]`);
  }
  const n = numel(shape);
  if (n !== data.length) throw new ShapeError(`Tensor's size(${n}) does not match data length(${data.length}).`);
  return { dtype, shape: [...shape], data };
}

/** A float32 tensor from a shape and values (zeros when `values` is omitted). */
export function float32(shape: readonly number[], values?: ArrayLike<number>): HostTensor<'float32'> {
  const data = new Float32Array(numel(shape));
  if (values) {
    if (values.length !== data.length) {
      throw new ShapeError(`Tensor's size(${data.length}) does not match data length(${values.length}).`);
    }
    data.set(values);
  }
  return hostTensor('float32', shape, data);
}

/** Converts an IEEE half-precision bit pattern to a number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Converts a tensor of any numeric dtype to float32 (int64 values must fit a double exactly). */
export function toFloat32(t: HostTensor): HostTensor<'float32'> {
  if (t.dtype === 'float32') return t as HostTensor<'float32'>;
  const out = new Float32Array(t.data.length);
  if (t.dtype === 'float16') {
    const src = t.data as Uint16Array;
    for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]);
  } else if (t.dtype === 'int64') {
    const src = t.data as BigInt64Array;
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
  } else {
    out.set(t.data as ArrayLike<number>);
  }
  return hostTensor('float32', t.shape, out);
}


/** How many values of a tensor are NaN and how many are ±Infinity. */
export interface NonFiniteCount {
  readonly nan: number;
  readonly inf: number;
}

/**
 * Counts the NaN and infinite values of a float tensor (integer tensors have none).
 * @example countNonFinite(float32([3], [1, NaN, -Infinity])) // { nan: 1, inf: 1 }
 */
export function countNonFinite(t: HostTensor): NonFiniteCount {
  let nan = 0;
  let inf = 0;
  if (t.dtype === 'float16') {
    // NOTE: exponent bits all ones: Inf when the mantissa is 0, NaN otherwise
    for (const h of t.data as Uint16Array) {
      if ((h & 0x7c00) !== 0x7c00) continue;
      if (h & 0x3ff) nan++;
      else inf++;
    }
  } else if (t.dtype === 'float32' || t.dtype === 'float64') {
    for (const v of t.data as Float32Array | Float64Array) {
      if (Number.isNaN(v)) nan++;
      else if (v === Infinity || v === -Infinity) inf++;
    }
  }
  return { nan, inf };
}
