/**
 * The graph layer: a small typed IR of ONNX ops, shape inference, and the ONNX writer.
 * Models build graphs through {@link GraphBuilder}; nothing here runs or depends on Node.
 */
export * from './dims.js';
export * from './ir.js';
export * from './builder.js';
export { type NodeRewrite, type RewriteOptions, rewriteGraph } from './rewrite.js';
export { attrInt, attrInts, attrFloat, attrString } from './attrs.js';
export { SHAPE_RULES, inferOutputs, broadcastShapes, type ShapeRule, type OutputInfo, type InputInfo } from './shape-inference.js';
export { encodeOnnx, decodeOnnx, toModelProto, DEFAULT_OPSET, ONNX_DTYPE, type OnnxWriteOptions } from './onnx-writer.js';
export { countMacs, type CountMacsOptions, type MacCount } from './flops.js';
export { decodeGraph, tensorFromProto } from './onnx-reader.js';
