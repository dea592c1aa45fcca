/**
 * Default operator set version. 17: Debian's onnx checker (1.12) knows up to 17, and onnxruntime runs 17 and 18
 * equally fast (21 was measured ~1.5x slower on CPU). Builders pick op forms by the opset they target.
 */
export const DEFAULT_OPSET = 17;
