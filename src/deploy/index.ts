/**
 * Deployment: `tsm export` (clip and online ONNX models with self-describing metadata), live
 * recognition for `tsm demo`, and the pieces the browser demo shares (metadata, preprocessing, the online
 * stepper, the original demo's output smoothing). Node only as a whole; `./browser.js` is the browser-safe part.
 */
export * from './browser.js';
export {
  EXPORT_QUANTIZATIONS,
  MAX_EXPORT_OPSET,
  MIN_EXPORT_OPSET,
  buildClipExportGraph,
  buildOnlineExportGraph,
  exportCheckpoint,
  quantizeExport,
  readExportedModel,
  readLabelsFile,
  writeExport,
  type ClipExportGraphOptions,
  type ExportCheckpointOptions,
  type ExportGraph,
  type ExportGraphOptions,
  type ExportQuantization,
  type ExportResult,
} from './export.js';
export {
  DEFAULT_ONLINE_MODEL,
  ffmpegFrames,
  findDefaultOnlineWeights,
  openFrameSource,
  openOnlineModel,
  preprocessImage,
  recognizeFrames,
  type DimsTensor,
  type FrameSourceOptions,
  type LabelScore,
  type LiveModel,
  type LivePrediction,
  type OnlineModelOptions,
  type RecognizeOptions,
} from './live.js';
