/**
 * Testing and prediction: test_models.py as `evaluate` (single models and ensembles, 1/3/5/10 crops,
 * twice and dense sampling, full-res, softmax), its metrics (top-1, top-5, mean class accuracy, confusion
 * matrix), score files that shards and ensembles merge from, reports (HTML, PNG, CSV submission), and `predict`
 * for video files and frame folders. Node only, except the pure functions noted as such.
 *
 * @example
 * import { evaluate, writeScoreSet, writeReport } from 'temporal-shift/evaluate';
 * const { scores, metrics } = await evaluate({
 *   dataset: 'something', rootPath: '/data', testCrops: 3, twiceSample: true, batchSize: 8,
 *   models: [{ weights: 'TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e45' }],
 * });
 * await writeScoreSet('out', scores);
 * await writeReport('out', metrics);
 */
export {
  AccuracyMeter,
  argmax,
  classAccuracy,
  className,
  computeMetrics,
  confusionMatrix,
  scoreRow,
  topKIndices,
  topKOf,
  type ClassAccuracy,
  type ClassStats,
  type Metrics,
} from './metrics.js';
export { averageViews, combineScores, softmaxRows, splitViews, type AverageViewsOptions } from './aggregate.js';
export {
  TEST_CROPS,
  clipsPerVideo,
  cropSizes,
  describeTestProtocol,
  modelInputOf,
  resolveProtocol,
  testTransforms,
  viewsPerVideo,
  type ModelInput,
  type ResolvedProtocol,
  type TestCrops,
  type TestProtocol,
} from './protocol.js';
export { inShard, parseShard, shardPositions, shardTag, type Shard } from './shard.js';
export {
  SCORES_FORMAT,
  findScoreFiles,
  mergeScoreSets,
  readScoreSet,
  runIdOf,
  scoreFileStem,
  writeScoreSet,
  type MergeScoresOptions,
  type ScoreMeta,
  type ScoreModel,
  type ScoreRun,
  type ScoreSet,
  type ScoredVideo,
} from './score-file.js';
export { openTestSet, type OpenTestSetOptions, type TestSet } from './test-set.js';
export {
  classTableCsv,
  confusionHtml,
  confusionPng,
  formatClassTable,
  formatSummary,
  submissionCsv,
  writeReport,
  type ConfusionHtmlOptions,
  type ReportFiles,
} from './report.js';
export {
  describeModel,
  evaluate,
  loadTestModel,
  type EvaluateEvent,
  type EvaluateOptions,
  type EvaluationResult,
  type LoadTestModelOptions,
  type TestModel,
  type TestModelSpec,
} from './evaluate.js';
export { DEFAULT_ONLINE_TEST_SEGMENTS, loadOnnxTestModel, type ClipRunner, type OnnxTestModel } from './onnx-model.js';
export {
  detectFrameTemplate,
  loadInputClip,
  predict,
  topPredictions,
  type InputClip,
  type LoadInputClipOptions,
  type PredictEvent,
  type PredictOptions,
  type PredictResult,
  type PredictedClass,
  type Prediction,
} from './predict.js';
