/**
 * The data pipeline: dataset configs and list files, TSN frame sampling, group transforms, the
 * worker-thread loader, ffmpeg video decoding, frame extraction, list generation and the synthetic
 * temporal-order dataset. Node only (sharp, ffmpeg, worker_threads), except the pure helpers noted as such.
 *
 * @example
 * import { DataLoader, trainAugmentation } from './data/index.js';
 * const loader = await DataLoader.create(
 *   { rootPath, listFile, numSegments: 8, transform: trainAugmentation({ flip: false }) },
 *   { batchSize: 8, shuffle: true, seed: 1 });
 * for await (const { input, labels } of loader.epoch(0)) { input.shape; } // [8, 24, 224, 224]
 * await loader.close();
 */
export { RandomState, mixSeed } from './random.js';
export { formatTemplate, templateToFfmpeg, templateToRegExp, countTemplateFields } from './template.js';
export {
  parseListFile, readListFile, formatListFile, checkRecords, checkLabels, framePaths, MIN_FRAMES,
  type VideoRecord, type Modality, type RecordProblem, type CheckRecordsOptions,
} from './list-file.js';
export {
  sampleIndices, getValIndices, getTestIndices, framesToLoad, segmentIndices, DENSE_WINDOW, DENSE_TEST_CLIPS,
  type SamplingOptions, type SamplingMode,
} from './sampling.js';
export {
  DATASETS, DATA_ROOT_ENV, DATASET_MANIFEST, resolveDataset, registerDataset, datasetFromManifest,
  type DatasetSpec, type DatasetConfig, type DatasetManifest, type ModalityLayout, type ResolveDatasetOptions,
} from './dataset-config.js';
export {
  decodeImage, encodeJpeg, resizeBilinear, cropImage, flipImage,
  invertImage, makeImage,
  type Image, type ImageMode, type DecodeOptions, type Region,
} from './image.js';
export {
  GroupScale, GroupCenterCrop, GroupRandomCrop, GroupMultiScaleCrop, GroupRandomHorizontalFlip, GroupOverSample,
  GroupFullResSample, GroupCompose, buildTransforms, trainAugmentation, valCropping, testCropping, normalizationFor,
  normalizeInto, groupToTensor, stackedChannels, fillFixOffset, IMAGENET_MEAN, IMAGENET_STD,
  MULTI_SCALE_CROP_SCALES,
  type GroupTransform, type TransformSpec, type NormalizeSpec, type MultiScaleCropOptions,
} from './transforms.js';
export { TSNDataSet, type TSNDataSetOptions, type TSNItem, type TSNGroup } from './tsn-dataset.js';
export { loadBatch, type Batch, type BatchItem } from './collate.js';
export { DataLoader, type DataLoaderOptions } from './loader.js';
export {
  probeVideo, decodeVideoFrames, sampleVideoFrames, FFMPEG, FFPROBE,
  type VideoInfo, type VideoDecodeOptions, type VideoSampleOptions, type VideoSample,
} from './video.js';
export {
  extractFrames, findVideos, VIDEO_EXTENSIONS,
  type ExtractFramesOptions, type ExtractFramesResult, type ExtractProgress,
} from './extract-frames.js';
export { makeLists, kineticsClassName, LIST_FORMATS, type ListFormat, type MakeListsOptions, type MakeListsResult } from './make-lists.js';
export {
  makeSyntheticDataset, renderSyntheticClip, syntheticBatch, parseSyntheticClasses, SYNTHETIC_CLASSES,
  ALL_SYNTHETIC_CLASSES, TEMPORAL_ORDER_CLASSES, NEW_MOTION_CLASSES,
  type SyntheticClass, type SyntheticClipOptions, type SyntheticBatchOptions, type MakeSyntheticOptions,
  type SyntheticDatasetInfo,
} from './synthetic.js';
export { scaledSize, roundHalfEven, centerCropOffset } from '../util/crop-geometry.js';
