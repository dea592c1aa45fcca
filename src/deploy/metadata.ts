/**
 * What an exported model says about itself: the `metadata_props` that `tsm export` writes, and their parsed
 * form. The web demo and `tsm demo` read everything they need (labels, preprocessing, buffer shapes) from here,
 * so an exported file is self-contained. Browser-safe (no Node imports).
 */
import { UsageError } from '../errors.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../util/imagenet.js';
import { JESTER_LABELS, numberedLabels } from './labels.js';

/** Metadata keys of an exported model. Values are strings; lists and sizes are JSON. */
export const DEPLOY_METADATA_KEYS = Object.freeze({
  /** `'online'` (one frame + shift buffers per step) or `'clip'` (`[B, T*3, H, W]` -> logits). */
  kind: 'tsm_kind',
  /** Backbone, e.g. `mobilenetv2`, `resnet50`. */
  arch: 'arch',
  /** Classifier width. */
  numClasses: 'num_classes',
  /** JSON list of class names. */
  labels: 'labels',
  /** JSON `[height, width]` of the network input (the crop). */
  inputSize: 'input_size',
  /** Shorter side the frame is resized to before the center crop (256 for a 224 crop). */
  scaleSize: 'scale_size',
  /** JSON per-channel mean over 0-1 RGB. */
  mean: 'input_mean',
  /** JSON per-channel std over 0-1 RGB. */
  std: 'input_std',
  /** Pixel range the mean/std are in: 1 (ToTorchFormatTensor(div=True)) or 255 (BNInception). */
  range: 'input_range',
  /** Frames per clip (clip models). */
  segments: 'num_segments',
  /** Input value name (`frame` for online models, `input` for clip models). */
  input: 'input_name',
  /** Output value name of the logits. */
  output: 'output_name',
  /** JSON list of shift buffer input names (online models). */
  bufferInputs: 'buffer_inputs',
  /** JSON list of shift buffer output names, aligned with `bufferInputs` (online models). */
  bufferOutputs: 'buffer_outputs',
  /** JSON list of buffer shapes, aligned with `bufferInputs` (online models). */
  bufferShapes: 'buffer_shapes',
  /** `'true'` when the batch dimension is symbolic. */
  dynamicBatch: 'dynamic_batch',
  /** Numeric precision of the weights and activations: `float32` (absent), `int8` or `float16`; inputs and outputs are float32 in all. */
  precision: 'precision',
  /** JSON of how an int8 model was calibrated: method, clips, source, activation and weight types, layers left in float. */
  calibration: 'calibration',
} as const);

/** Precisions an exported model can have (inputs and outputs are float32 in every one). */
export const MODEL_PRECISIONS = Object.freeze({ float32: 'float32', int8: 'int8', float16: 'float16' } as const);
/** One of {@link MODEL_PRECISIONS}. */
export type ModelPrecision = keyof typeof MODEL_PRECISIONS;

/** The kinds of exported model. */
export const MODEL_KINDS = Object.freeze({ online: 'online', clip: 'clip' } as const);

/** One of {@link MODEL_KINDS}. */
export type ModelKind = keyof typeof MODEL_KINDS;

/** Preprocessing of one frame: resize the shorter side, center crop, scale to 0-1, normalize. */
export interface FramePreprocessing {
  /** `[height, width]` of the crop fed to the network. */
  readonly inputSize: readonly [number, number];
  /** Shorter side after resizing, before the crop (`GroupScale(256)` for 224). */
  readonly scaleSize: number;
  /** Per-channel RGB mean (0-1 scale). */
  readonly mean: readonly number[];
  /** Per-channel RGB std (0-1 scale). */
  readonly std: readonly number[];
  /** Pixel range before normalization: 1 divides by 255 first, 255 does not (BNInception). @default 1 */
  readonly inputRange?: 1 | 255;
}

/** The parsed metadata of an exported model. */
export interface DeployInfo extends FramePreprocessing {
  readonly kind: ModelKind;
  readonly arch: string;
  readonly numClasses: number;
  /** Class names, `numClasses` long. */
  readonly labels: readonly string[];
  /** True when the file carried no labels and these were filled in (Jester for 27 classes, else numbered). */
  readonly defaultLabels: boolean;
  readonly inputName: string;
  readonly outputName: string;
  /** Frames per clip; 1 for online models. */
  readonly segments: number;
  readonly bufferInputs: readonly string[];
  readonly bufferOutputs: readonly string[];
  readonly bufferShapes: readonly (readonly number[])[];
  readonly dynamicBatch: boolean;
  /** Weights and activations: `float32` unless the model was written with `tsm export --quantize`. @default 'float32' */
  readonly precision?: ModelPrecision;
}

export { IMAGENET_MEAN, IMAGENET_STD } from '../util/imagenet.js';

/** The original's `scale_size = crop_size * 256 // 224` (256 for 224). */
export const scaleSizeFor = (cropSize: number): number => Math.floor((cropSize * 256) / 224);

/** Labels for a model without its own: the Jester gestures for 27 classes (the online demo), else `class i`. */
export const defaultLabelsFor = (numClasses: number): string[] =>
  numClasses === JESTER_LABELS.length ? [...JESTER_LABELS] : numberedLabels(numClasses);

/** Formats {@link DeployInfo} as metadata entries (what `tsm export` writes). */
export function formatDeployMetadata(info: Omit<DeployInfo, 'defaultLabels'>): Record<string, string> {
  const K = DEPLOY_METADATA_KEYS;
  const out: Record<string, string> = {
    [K.kind]: info.kind,
    [K.arch]: info.arch,
    [K.numClasses]: String(info.numClasses),
    [K.labels]: JSON.stringify(info.labels),
    [K.inputSize]: JSON.stringify(info.inputSize),
    [K.scaleSize]: String(info.scaleSize),
    [K.mean]: JSON.stringify(info.mean),
    [K.std]: JSON.stringify(info.std),
    [K.range]: String(info.inputRange ?? 1),
    [K.segments]: String(info.segments),
    [K.input]: info.inputName,
    [K.output]: info.outputName,
    [K.dynamicBatch]: String(info.dynamicBatch),
  };
  if (info.precision !== undefined && info.precision !== 'float32') out[K.precision] = info.precision;
  if (info.kind === 'online') {
    out[K.bufferInputs] = JSON.stringify(info.bufferInputs);
    out[K.bufferOutputs] = JSON.stringify(info.bufferOutputs);
    out[K.bufferShapes] = JSON.stringify(info.bufferShapes);
  }
  return out;
}

function json<T>(meta: Readonly<Record<string, string>>, key: string, check: (v: unknown) => v is T, expected: string): T | undefined {
  const raw = meta[key];
  if (raw === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (cause) {
    throw new UsageError(`model metadata "${key}" is not JSON: ${raw.slice(0, 80)}`, { cause });
  }
  if (!check(v)) throw UsageError.expected(`model metadata "${key}"`, expected, v);
  return v;
}

const isNumbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isShapes = (v: unknown): v is number[][] => Array.isArray(v) && v.every(isNumbers);
const isSize = (v: unknown): v is number | [number, number] =>
  (typeof v === 'number' && Number.isInteger(v) && v > 0) || (isNumbers(v) && v.length === 2 && v.every((d) => Number.isInteger(d) && d > 0));

function int(meta: Readonly<Record<string, string>>, key: string): number | undefined {
  const raw = meta[key];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw UsageError.expected(`model metadata "${key}"`, 'a positive integer', raw);
  return n;
}

/** Facts the caller knows from the session when the metadata lacks them. */
export interface DeployInfoHints {
  /** The session's input names (the first non-buffer one is the frame/clip input). */
  readonly inputNames?: readonly string[];
  /** The session's output names. */
  readonly outputNames?: readonly string[];
}

/**
 * Parses the metadata of an exported model. Missing entries get the online demo's defaults (224 crop of a
 * 256 resize, ImageNet mean/std); a model is `online` when it has buffer entries or `buffer_*` inputs.
 * @param meta the `metadata_props` (see {@link readOnnxMetadata})
 * @throws {UsageError} when an entry is malformed, or the labels do not match the class count
 * @example
 * const info = parseDeployMetadata(readOnnxMetadata(bytes), { inputNames: session.inputNames });
 */
export function parseDeployMetadata(meta: Readonly<Record<string, string>>, hints: DeployInfoHints = {}): DeployInfo {
  const K = DEPLOY_METADATA_KEYS;
  const bufferInputs = json(meta, K.bufferInputs, isStrings, 'a list of names') ?? (hints.inputNames ?? []).filter((n) => /^buffer_\d+$/.test(n));
  const bufferOutputs = json(meta, K.bufferOutputs, isStrings, 'a list of names') ?? bufferInputs.map((n) => n.replace(/^buffer_/, 'buffer_out_'));
  const bufferShapes = json(meta, K.bufferShapes, isShapes, 'a list of shapes') ?? [];
  const rawKind = meta[K.kind] ?? (bufferInputs.length > 0 ? 'online' : 'clip');
  if (!(rawKind in MODEL_KINDS)) throw UsageError.expected(`model metadata "${K.kind}"`, `one of ${Object.keys(MODEL_KINDS).join(', ')}`, rawKind);
  const kind = rawKind as ModelKind;
  if (kind === 'online' && (bufferOutputs.length !== bufferInputs.length || (bufferShapes.length > 0 && bufferShapes.length !== bufferInputs.length))) {
    throw new UsageError(
      `model metadata lists ${bufferInputs.length} buffer inputs, ${bufferOutputs.length} buffer outputs and ${bufferShapes.length} buffer shapes; they must match`,
    );
  }
  const size = json(meta, K.inputSize, isSize, 'a size or [height, width]') ?? 224;
  const inputSize: [number, number] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
  const labelsIn = json(meta, K.labels, isStrings, 'a list of class names');
  const numClasses = int(meta, K.numClasses) ?? int(meta, 'num_class') ?? labelsIn?.length;
  if (numClasses === undefined) throw new UsageError(`model metadata has neither "${K.numClasses}" nor "${K.labels}"; re-export it with tsm export`);
  if (labelsIn && labelsIn.length !== numClasses) {
    throw new UsageError(`model metadata has ${labelsIn.length} labels for ${numClasses} classes; re-export it with ${numClasses} labels (tsm export --labels FILE)`);
  }
  // BNInception records a single std ([1]): broadcast over the channels, as GroupNormalize does
  const perChannel = (v: readonly number[]): readonly number[] => (v.length === 1 ? [v[0], v[0], v[0]] : v);
  const mean = perChannel(json(meta, K.mean, isNumbers, 'a list of 3 numbers') ?? IMAGENET_MEAN);
  const std = perChannel(json(meta, K.std, isNumbers, 'a list of 3 numbers') ?? IMAGENET_STD);
  if (mean.length !== 3 || std.length !== 3 || std.some((s) => s <= 0)) {
    throw new UsageError(`model metadata mean/std must be 3 numbers each with std > 0, got mean ${JSON.stringify(mean)}, std ${JSON.stringify(std)}`);
  }
  const range = meta[K.range] ?? '1';
  if (range !== '1' && range !== '255') throw UsageError.expected(`model metadata "${K.range}"`, '1 or 255', range);
  const precision = meta[K.precision] ?? 'float32';
  if (!Object.hasOwn(MODEL_PRECISIONS, precision)) throw UsageError.expected(`model metadata "${K.precision}"`, `one of ${Object.keys(MODEL_PRECISIONS).join(', ')}`, precision);
  const inputName = meta[K.input] ?? (hints.inputNames ?? []).find((n) => !bufferInputs.includes(n)) ?? (kind === 'online' ? 'frame' : 'input');
  const outputName = meta[K.output] ?? (hints.outputNames ?? []).find((n) => !bufferOutputs.includes(n)) ?? 'logits';
  return {
    kind,
    arch: meta[K.arch] ?? (meta.model === 'online_mobilenet_v2' ? 'mobilenetv2' : 'unknown'),
    numClasses,
    labels: labelsIn ?? defaultLabelsFor(numClasses),
    defaultLabels: labelsIn === undefined,
    inputSize,
    scaleSize: int(meta, K.scaleSize) ?? scaleSizeFor(Math.min(...inputSize)),
    mean,
    std,
    inputRange: range === '255' ? 255 : 1,
    inputName,
    outputName,
    segments: int(meta, K.segments) ?? 1,
    bufferInputs,
    bufferOutputs,
    bufferShapes,
    dynamicBatch: meta[K.dynamicBatch] === 'true',
    // NOTE: only when recorded, so a float32 model's parsed metadata is what it was before precisions existed
    ...(meta[K.precision] === undefined ? {} : { precision: precision as ModelPrecision }),
  };
}
