/**
 * The test protocol of test_models.py: how many clips (`--twice_sample` 2, `--dense_sample` 10) and crops
 * (`--test_crops` 1, 3, 5, 10; `--full_res`) each video is seen through, and the transforms and normalisation
 * that produce those views for a model.
 */
import { DENSE_TEST_CLIPS, type NormalizeSpec, type TransformSpec, testCropping } from '../data/index.js';
import { UsageError } from '../errors.js';
import type { Modality } from '../models/config.js';
import type { TSN } from '../models/tsn.js';

/** Crop counts `--test-crops` takes: centre, full-res three, five corners+centre, ten (five and their flips). */
export const TEST_CROPS = Object.freeze({ 1: 'centre crop', 3: 'three crops along the long side (GroupFullResSample)', 5: 'four corners and centre', 10: 'four corners and centre, and their flips' } as const);
/** One of {@link TEST_CROPS}. */
export type TestCrops = 1 | 3 | 5 | 10;

/** How each video is viewed at test time (test_models.py flags). Every field is optional. */
export interface TestProtocol {
  /** Crops per frame (`--test_crops`). @default 1 */
  readonly testCrops?: TestCrops;
  /** Crops of the scale size (256 for 224 models) instead of the input size (`--full_res`). @default false */
  readonly fullRes?: boolean;
  /** Two clips: segment centres and segment starts (`--twice_sample`). @default false */
  readonly twiceSample?: boolean;
  /** Ten dense 64-frame windows (`--dense_sample`). @default false */
  readonly denseSample?: boolean;
  /** Crop size; the scale size is `floor(inputSize * 256 / 224)`. @default the model's input size (224) */
  readonly inputSize?: number;
  /** Turn each model's view-averaged scores into probabilities before combining models (`--softmax`). @default false */
  readonly softmax?: boolean;
}

/** A {@link TestProtocol} with every field decided. */
export type ResolvedProtocol = Required<Omit<TestProtocol, 'inputSize'>> & { readonly inputSize?: number };

/**
 * Checks a protocol and fills in the defaults.
 * @throws {UsageError} for a crop count other than 1, 3, 5, 10, a bad input size, or dense and twice sampling
 *   together (the original's loader returns 10 clips while its reshape expects 20)
 */
export function resolveProtocol(p: TestProtocol = {}): ResolvedProtocol {
  const testCrops = p.testCrops ?? 1;
  if (!(String(testCrops) in TEST_CROPS)) throw UsageError.expected('testCrops', `one of ${Object.keys(TEST_CROPS).join(', ')}`, testCrops);
  if (p.inputSize !== undefined && (!Number.isInteger(p.inputSize) || p.inputSize < 1)) throw UsageError.expected('inputSize', 'a positive integer', p.inputSize);
  if (p.denseSample && p.twiceSample) throw new UsageError('denseSample and twiceSample cannot be combined: pick one clip sampling (10 dense clips or 2 uniform clips)', { options: ['denseSample', 'twiceSample'] });
  return {
    testCrops,
    fullRes: p.fullRes ?? false,
    twiceSample: p.twiceSample ?? false,
    denseSample: p.denseSample ?? false,
    softmax: p.softmax ?? false,
    ...(p.inputSize === undefined ? {} : { inputSize: p.inputSize }),
  };
}

/** Clips per video: 10 with dense sampling, 2 with twice sampling, else 1. */
export const clipsPerVideo = (p: TestProtocol): 1 | 2 | 10 => (p.denseSample ? (DENSE_TEST_CLIPS as 10) : p.twiceSample ? 2 : 1);

/** Views per video, test_models.py's `num_crop`: crops x clips. */
export const viewsPerVideo = (p: TestProtocol): number => (p.testCrops ?? 1) * clipsPerVideo(p);

/** What a model needs from its input, read off a loaded {@link TSN}. */
export interface ModelInput {
  readonly numSegments: number;
  readonly newLength: number;
  readonly modality: Modality;
  /** `TSN.input_size` (224). */
  readonly inputSize: number;
  /** Stack / ToTorchFormatTensor / GroupNormalize of the model (BNInception: BGR, 0..255). */
  readonly normalize: NormalizeSpec;
}

/** The {@link ModelInput} of a model, as test_models.py builds its transform from `net`. */
export function modelInputOf(model: TSN): ModelInput {
  const c = model.config;
  return {
    numSegments: c.numSegments,
    newLength: c.newLength,
    modality: c.modality,
    inputSize: model.inputSize,
    normalize: { mean: model.inputMean, std: model.inputStd, div: model.inputRange === 1, roll: c.baseModel === 'BNInception' },
  };
}

/** Crop size and scale size of a protocol for a model: `input_size` (or `scale_size` with full_res) and `scale_size`. */
export function cropSizes(p: TestProtocol, input: Pick<ModelInput, 'inputSize'>): { readonly cropSize: number; readonly scaleSize: number } {
  const inputSize = p.inputSize ?? input.inputSize;
  const scaleSize = Math.floor((inputSize * 256) / 224);
  return { cropSize: p.fullRes ? scaleSize : inputSize, scaleSize };
}

/** The cropping of test_models.py for a protocol: GroupScale + GroupCenterCrop, GroupFullResSample or GroupOverSample. */
export function testTransforms(p: TestProtocol, input: Pick<ModelInput, 'inputSize'>): TransformSpec[] {
  return testCropping(p.testCrops ?? 1, { inputSize: p.inputSize ?? input.inputSize, fullRes: p.fullRes ?? false });
}

/** `3 crops x 2 clips (twice sample), 256 px full-res crops` — for messages. */
export function describeTestProtocol(p: TestProtocol, input?: Pick<ModelInput, 'inputSize'>): string {
  const crops = p.testCrops ?? 1;
  const clips = clipsPerVideo(p);
  const sampling = p.denseSample ? ' (dense sample)' : p.twiceSample ? ' (twice sample)' : '';
  const size = input ? `, ${cropSizes(p, input).cropSize} px${p.fullRes ? ' full-res' : ''} crops` : '';
  return `${crops} crop${crops === 1 ? '' : 's'} x ${clips} clip${clips === 1 ? '' : 's'}${sampling}${size}${p.softmax ? ', softmax' : ''}`;
}
