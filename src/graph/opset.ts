import type { DType } from '../tensor/index.js';

/**
 * Default operator set version. 17: Debian's onnx checker (1.12) knows up to 17, and onnxruntime runs 17 and 18
 * equally fast (21 was measured ~1.5x slower on CPU). Builders pick op forms by the opset they target.
 */
export const DEFAULT_OPSET = 17;

/** ONNX TensorProto.DataType of each dtype. */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = Object.freeze({
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
});

/** The dtype of an ONNX TensorProto.DataType code (the inverse of {@link ONNX_DTYPE}). */
export const DTYPE_OF_ONNX: Readonly<Record<number, DType>> = Object.freeze(
  Object.fromEntries(Object.entries(ONNX_DTYPE).map(([d, code]) => [code, d as DType])),
);
