/**
 * The model zoo: the released checkpoints, the download cache, `--weights NAME|URL|PATH` and
 * `--pretrain imagenet|scratch|PATH`. Downloads are Node only; the table and the key mapping run anywhere.
 */
export { CACHE_ENV, defaultCacheDir, type CacheDirContext } from './cache-dir.js';
export { downloadFile, type DownloadOptions, type DownloadResult } from './download.js';
export { DownloadError, type DownloadFailure } from './download-error.js';
export { IMAGENET_WEIGHTS, resolvePretrain, type ImagenetWeights, type PretrainSource } from './imagenet.js';
export { checkpointLabels, datasetLabels, parseLabelList, zooLabels } from './labels.js';
export {
  mapImagenetStateDict,
  unwrapKey,
  type ImagenetMapping,
  type MapImagenetOptions,
  type ModelStateKeys,
} from './pretrain.js';
export type {
  ProgressCallback,
  ProgressDone,
  ProgressDownload,
  ProgressEvent,
  ProgressInitiate,
  ProgressUpdate,
  ProgressWait,
} from './progress.js';
export {
  classifyWeightsSpec,
  ensureCached,
  isCached,
  resolveWeights,
  urlCachePath,
  zooCachePath,
  type CacheItem,
  type ResolveWeightsOptions,
  type WeightsSpec,
} from './resolve-weights.js';
export {
  ZOO,
  ZOO_DATASETS,
  describeProtocol,
  findZooEntry,
  getZooEntry,
  type ZooDataset,
  type ZooEntry,
  type ZooModelConfig,
  type ZooProtocol,
  type ZooResult,
  type ZooTsnConfig,
} from './table.js';
