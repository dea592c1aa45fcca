/**
 * Teaching an online model new actions from a few clips: the browser-safe core behind `actionTeacher` in
 * `temporal-shift/web` (the page runs it in a worker on onnxruntime-web; tests and the bench run it on
 * onnxruntime-node). It builds its graphs with our own graph and autodiff code and trains the online model's own
 * weights with the online shift, so they run unchanged in the step model.
 */
export { type BaseModel, type ReadBaseModelOptions, readBaseModel } from './base-model.js';
export {
  type AugmentOptions,
  type Box,
  type RgbFrame,
  type StoredClip,
  type ViewSpec,
  centerView,
  randomView,
  renderView,
  resampleRgb,
  squareFrame,
  storeClip,
  viewFrames,
} from './clips.js';
export { CLASSIFIER_ONLY, OnlineClipNet, type OnlineClipNetOptions, buildClipScoresGraph, buildPrefixGraph, featureShape, freezeForTeaching, runFeatures } from './clip-net.js';
export {
  TEACH_DEFAULTS,
  TeachAbortError,
  type OpenSession,
  type TaughtModel,
  type TeachEpoch,
  type TeachLayers,
  type TeachLoss,
  type TeachOptions,
  type TeachProgress,
  type TeachSession,
  type TeachStep,
  buildTeachStep,
  checkClips,
  cloneModel,
  resolveTeachOptions,
  teachModel,
  withNewClassifier,
} from './trainer.js';
export { type TaughtPthOptions, taughtOnnx, taughtPth } from './export.js';
export { clipAsMinMax, teachStepGraph } from './step-formulation.js';
