/**
 * The runtime layer: onnxruntime sessions (Node) and device selection. Node only.
 */
export * from './devices.js';
export * from './session.js';
