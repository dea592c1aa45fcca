/**
 * `temporal-shift/web`: live action recognition in a web page. Load an exported online model
 * (`tsm export --online`) with {@link onlineRecognizer} and attach it to a `<video>` (a webcam or a file); it runs on
 * onnxruntime-web (WebGPU when the browser has an adapter, else wasm) one frame at a time, carrying the temporal
 * shift buffers between frames. Browser only: nothing here, or in what it imports, touches Node, so a bundler
 * (Vite, webpack) packs it for the page as is.
 * @example
 * import { onlineRecognizer } from 'temporal-shift/web';
 * const r = await onlineRecognizer('/online.onnx');
 * r.attach(video, (p) => show(p.label, p.top));
 */
export {
  SMOOTHING_MODES,
  onlineRecognizer,
  smoothingRules,
  type AttachOptions,
  type FramePrediction,
  type LabelScore,
  type OnlineRecognizer,
  type OnlineRecognizerOptions,
  type SmoothingMode,
} from './recognizer.js';
export { FramePreprocessor, type FrameInput } from './frame.js';
export {
  WEB_DEVICES,
  fetchModel,
  openWebSession,
  type ModelProgress,
  type ModelSource,
  type WebDevice,
  type WebSession,
  type WebSessionOptions,
} from './load.js';
export {
  GENERIC_SMOOTHING,
  JESTER_LABELS,
  JESTER_SMOOTHING,
  OnlineStepper,
  OutputSmoother,
  cropWindow,
  isJesterLabels,
  normalizeFrame,
  parseDeployMetadata,
  readOnnxMetadata,
  smoothingFor,
  softmax,
  topK,
  type ClassScore,
  type DeployInfo,
  type FramePreprocessing,
  type SmoothedPrediction,
  type SmoothingRules,
} from '../deploy/browser.js';
export { actionTeacher, type ActionTeacher, type ActionTeacherOptions, type ClipInfo, type TeachEpoch, type TeachFrame, type TeacherSnapshot, type TeachProgress, type TrainOptions, type TrainResult } from './teach.js';
export { DataError, RuntimeSessionError, ShapeError, TsmError, UsageError } from '../errors.js';
