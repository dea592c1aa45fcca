/**
 * TSM models: the temporal shift module, ResNet / MobileNetV2 / BN-Inception backbones in the original key
 * layouts, the TSN wrapper (shift, temporal pooling, non-local, consensus), configuration from released
 * checkpoint names, checkpoint loading, and an onnxruntime runner.
 *
 * @example
 * import { loadModel } from 'temporal-shift/models';
 * const runner = await loadModel('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth', { threads: 2 });
 * const logits = await runner.logits(clip); // clip: float32 [B, 8*3, 224, 224] -> [B, 400]
 */
export {
  SHIFT_PLACES,
  type ShiftPlace,
  TemporalShift,
  TemporalPool,
  makeTemporalShift,
  makeTemporalPool,
} from './temporal-shift.js';
export {
  BasicBlock,
  Bottleneck,
  ResNet,
  RESNET_ARCHS,
  type ResNetArch,
  type ResNetOptions,
  resnet,
  resnet18,
  resnet34,
  resnet50,
  resnet101,
  resnet152,
  conv1x1,
  conv3x3,
} from './resnet.js';
export { InvertedResidual, MobileNetV2, type MobileNetV2Options, inferMobileNetV2WidthMult, mobileNetV2Channels, mobilenetV2 } from './mobilenet-v2.js';
export { NonLocalBlock3D, NL3DWrapper, type NonLocalOptions, makeNonLocal } from './non-local.js';
export { CONSENSUS_TYPES, type ConsensusType, ConsensusModule } from './consensus.js';
export {
  ARCHS,
  type Arch,
  type ArchInfo,
  DATASETS,
  type Dataset,
  MODALITIES,
  type Modality,
  type NameConfig,
  parseArch,
  parseCheckpointName,
  checkpointStem,
  channelsPerFrame,
  defaultNewLength,
} from './config.js';
export { TSN, type TsnOptions, type TsnConfig, type TsnGraphOptions, type Backbone, tsn, buildTsnGraph, resolveTsnOptions } from './tsn.js';
export {
  type TsnOverrides,
  type StateDictFacts,
  type ConfigSource,
  type ResolvedTsnConfig,
  type ResolveTsnConfigInput,
  type LoadTsnOptions,
  type LoadedTsn,
  type TsnRunnerOptions,
  type LoadModelOptions,
  inspectStateDict,
  resolveTsnConfig,
  loadTsnCheckpoint,
  tsnFromStateDict,
  loadTsn,
  TsnRunner,
  loadModel,
} from './load.js';
export { BNInception, type BNInceptionOptions, BN_INCEPTION_INPUT, shiftBNInception } from './bn-inception.js';
export {
  OnlineMobileNetV2,
  InvertedResidualWithShift,
  type OnlineMobileNetV2Options,
  type OnlineStepGraphOptions,
  ONLINE_INPUT_MEAN,
  ONLINE_INPUT_STD,
  ONLINE_STEP_NAMES,
  NUM_SHIFT_BUFFERS,
  buildOnlineStepGraph,
  toOnlineStateDict,
} from './online-mobilenet-v2.js';
export {
  type LoadOnlineOptions,
  type LoadedOnlineModel,
  loadOnlineMobileNetV2,
  onlineMobileNetV2FromStateDict,
} from './online.js';
