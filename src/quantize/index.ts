/**
 * Quantisation of exported models, written over our own graph IR: int8 static QDQ (calibrated on clips read by
 * our data pipeline) that onnxruntime runs with integer kernels on the CPU and in wasm, and float16 with float32
 * inputs and outputs. `tsm export --quantize int8|fp16` is the command-line front end. Node only as a whole
 * (calibration runs onnxruntime-node); the graph passes themselves touch nothing but the IR.
 */
export { foldBatchNorm } from './fold-batchnorm.js';
export { GraphRewriter, consumersOf, type EmitOptions } from './graph-edit.js';
export {
  CALIBRATION_METHODS,
  DEFAULT_PERCENTILE,
  HISTOGRAM_BINS,
  TensorStats,
  rangeFor,
  type CalibrationMethod,
  type Range,
} from './calibration.js';
export { ACTIVATION_TYPES, analyseQdq, insertQdq, quantParams, quantizeWeights, type ActivationType, type QdqAnalysis, type QdqOptions, type QuantParams } from './qdq.js';
export { FLOAT16_MAX, convertToFloat16, floatToHalf, toFloat16, type Float16Report } from './fp16.js';
export { collectStats, type CalibrationClip, type CollectStatsOptions } from './collect-stats.js';
export {
  DEFAULT_CALIBRATION_CLIPS,
  missingCalibrationSet,
  openCalibrationSet,
  type CalibrationItem,
  type CalibrationPreprocessing,
  type CalibrationSet,
  type CalibrationSetOptions,
} from './calibration-data.js';
export {
  DEFAULT_CALIBRATION_METHOD,
  FLOAT_LAYERS,
  ONLINE_CALIBRATION_FRAMES,
  PRECISIONS,
  calibrate,
  checkQuantizeOptions,
  floatLayerNodes,
  openModelCalibrationSet,
  quantizeGraph,
  rangesFrom,
  stateOf,
  type CalibrationRecord,
  type FloatLayer,
  type Precision,
  type QuantizeModelInfo,
  type QuantizeOptions,
  type QuantizedGraph,
} from './quantize-model.js';
