/**
 * The browser-safe part of deployment: what the web demo (web/) imports. Nothing here, or in what it imports,
 * touches Node (test/web/browser-imports.test.ts checks), so Vite can bundle it for the page.
 */
export { JESTER_LABELS, isJesterLabels, numberedLabels } from './labels.js';
export {
  DEPLOY_METADATA_KEYS,
  IMAGENET_MEAN,
  IMAGENET_STD,
  MODEL_KINDS,
  MODEL_PRECISIONS,
  defaultLabelsFor,
  formatDeployMetadata,
  parseDeployMetadata,
  scaleSizeFor,
  type DeployInfo,
  type DeployInfoHints,
  type FramePreprocessing,
  type ModelKind,
  type ModelPrecision,
} from './metadata.js';
export { readOnnxMetadata } from './onnx-metadata.js';
export { OnlineStepper, type OrtLikeSession, type OrtLikeTensor, type TensorFactory } from './online-stepper.js';
export { cropWindow, normalizeFrame, roundHalfEven, scaledSize, type CropWindow } from './preprocess.js';
export {
  GENERIC_SMOOTHING,
  JESTER_SMOOTHING,
  OutputSmoother,
  argmax,
  processOutput,
  smoothingFor,
  softmax,
  topK,
  type ClassScore,
  type SmoothedPrediction,
  type SmoothingRules,
} from './smoothing.js';
