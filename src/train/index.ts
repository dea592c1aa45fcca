/**
 * Training: TSM's optimizer policies, SGD with momentum and weight decay, the learning-rate schedules, and the
 * one-graph training step (forward + backward + clipping + update in one onnxruntime run). Node only.
 */
export { type ParamGroup, type PolicyOptions, getOptimPolicies, singleGroup, setTrainMode } from './policies.js';
export { SGD, type SgdGroup, type SgdOptions, type SgdUpdateInputs, emitSgdUpdate } from './sgd.js';
export { LR_TYPES, type LrType, type ScheduleOptions, adjustLearningRate, learningRateAt } from './schedule.js';
export { TrainStep, type StepResult, type StepRunOptions, type TrainStepGraph, type TrainStepOptions, type TrainStepRunOptions, buildTrainStepGraph, dropoutMask } from './train-step.js';
export { Trainer, type TrainerOptions, type TrainEvent, type EpochStats, type Batch, accuracy } from './trainer.js';
export { initWeights } from './init.js';
export { type RunEvent, type TrainRunOptions, type TrainRunResult, storeName, trainTsn } from './run.js';
export { NCHWC_DOMAIN, nchwcBlockSize, rewriteDepthwiseNchwc } from './nchwc.js';
export { LOG_FILES, type LogRecord, TrainLog, type TrainLogOptions, curvesHtml, curvesSvg, niceTicks } from './log.js';
