/**
 * The model a user teaches new actions to: an online TSM-MobileNetV2, from an exported online `.onnx` (its
 * weights are the file's initializers, its labels and preprocessing its metadata) or a `.pth` in the online demo's
 * layout or a TSM-MobileNetV2 checkpoint trained with the online shift. Browser-safe.
 */
import onnxProto from 'onnx-proto';
import { extractStateDict } from '../checkpoint/state-dict.js';
import { parsePth } from '../checkpoint/pth-reader.js';
import { type FramePreprocessing, defaultLabelsFor, parseDeployMetadata, scaleSizeFor } from '../deploy/metadata.js';
import { readOnnxMetadata } from '../deploy/onnx-metadata.js';
import { TsmError, UsageError } from '../errors.js';
import { ONLINE_INPUT_MEAN, ONLINE_INPUT_STD, type OnlineMobileNetV2, onlineMobileNetV2FromStateDict, resolveInputSize } from '../models/online-mobilenet-v2.js';
import { type HostTensor, hostTensor, numel } from '../tensor/index.js';

const { onnx } = onnxProto;

/** A base model read from bytes. */
export interface BaseModel {
  /** Where it came from (a file name or URL), for messages. */
  readonly source: string;
  readonly format: 'onnx' | 'pth';
  /** The network with its weights (and its own classifier). */
  readonly model: OnlineMobileNetV2;
  /** The base model's own class names. */
  readonly labels: readonly string[];
  /** How its frames are cropped and normalized. */
  readonly prep: Required<FramePreprocessing>;
}

/** Options of {@link readBaseModel}. */
export interface ReadBaseModelOptions {
  /** Name for messages. @default 'the base model' */
  readonly source?: string;
  /** Crop side of a `.pth` base (an `.onnx` says its own). @default 224 */
  readonly inputSize?: number;
}

/** The error for bytes that are not an online model, naming the file and how to make one. */
function notOnline(source: string, what: string, cause?: unknown): UsageError {
  return new UsageError(
    `${source} is not an online TSM model: ${what}. Teaching starts from an online model: the default one, an exported online .onnx (tsm export --online) or a TSM-MobileNetV2 .pth trained with tsm train --online-shift`,
    cause === undefined ? undefined : { cause },
  );
}

const FLOAT = 1;
const INT64 = 7;

/** The float32 and int64 initializers of an ONNX model, by name (raw data or the typed fields). */
function onnxInitializers(bytes: Uint8Array, source: string): Map<string, HostTensor> {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (cause) {
    throw notOnline(source, 'it cannot be decoded as ONNX', cause);
  }
  const out = new Map<string, HostTensor>();
  for (const t of model.graph?.initializer ?? []) {
    const shape = (t.dims ?? []).map(Number);
    const n = numel(shape);
    const name = t.name ?? '';
    if (t.dataType === FLOAT) {
      let data: Float32Array;
      if (t.rawData && t.rawData.length > 0) {
        if (t.rawData.length !== 4 * n) throw notOnline(source, `initializer ${name} has ${t.rawData.length} bytes for shape [${shape.join(',')}]`);
        data = new Float32Array(n);
        new Uint8Array(data.buffer).set(t.rawData); // a copy: aligned, and independent of the file's buffer
      } else data = Float32Array.from(t.floatData ?? []);
      out.set(name, hostTensor('float32', shape, data));
    } else if (t.dataType === INT64) {
      const data = new BigInt64Array(n);
      if (t.rawData && t.rawData.length === 8 * n) new Uint8Array(data.buffer).set(t.rawData);
      else (t.int64Data ?? []).forEach((v, i) => (data[i] = BigInt(String(v))));
      out.set(name, hostTensor('int64', shape, data));
    }
  }
  return out;
}

/** Loads the network from a state dict, turning a key or shape mismatch into a "not an online model" error. */
function networkFrom(sd: ReadonlyMap<string, HostTensor>, source: string, widthMult?: number): OnlineMobileNetV2 {
  try {
    return onlineMobileNetV2FromStateDict(sd, { source, widthMult }).model;
  } catch (err) {
    if (err instanceof TsmError) throw notOnline(source, `its weights do not fit the online TSM-MobileNetV2 (${err.message})`, err);
    throw err;
  }
}

/**
 * Reads a base model from the bytes of an exported online `.onnx` or a `.pth`.
 * @throws {UsageError} naming the source when the bytes are not an online TSM model (a clip model, another
 *   architecture, not a model at all)
 * @example
 * const base = readBaseModel(new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer()), { source: '/model.onnx' });
 */
export function readBaseModel(bytes: Uint8Array, opts: ReadBaseModelOptions = {}): BaseModel {
  const source = opts.source ?? 'the base model';
  if (bytes.length === 0) throw notOnline(source, 'it is empty');
  const isPth = (bytes[0] === 0x50 && bytes[1] === 0x4b) || bytes[0] === 0x80;
  if (isPth) {
    let sd: Map<string, HostTensor>;
    let categories: readonly string[] | undefined;
    try {
      const { stateDict, meta } = extractStateDict(parsePth(bytes, source), { source });
      sd = stateDict;
      categories = meta.categories;
    } catch (err) {
      if (err instanceof TsmError) throw notOnline(source, `it is not a readable checkpoint (${err.message})`, err);
      throw err;
    }
    if ([...sd.keys()].some((k) => /(^|\.)layer\d\./.test(k) || /inception/i.test(k))) {
      throw notOnline(source, 'it is a ResNet/BNInception checkpoint; only MobileNetV2 has an online step model');
    }
    const model = networkFrom(sd, source);
    const [h, w] = resolveInputSize(opts.inputSize ?? 224);
    const labels = categories && categories.length === model.numClasses ? categories : defaultLabelsFor(model.numClasses);
    return {
      source,
      format: 'pth',
      model,
      labels,
      prep: { inputSize: [h, w], scaleSize: scaleSizeFor(Math.min(h, w)), mean: ONLINE_INPUT_MEAN, std: ONLINE_INPUT_STD, inputRange: 1 },
    };
  }
  let meta: Record<string, string>;
  try {
    meta = readOnnxMetadata(bytes);
  } catch (cause) {
    throw notOnline(source, 'it is neither an ONNX model nor a PyTorch checkpoint', cause);
  }
  let info;
  try {
    info = parseDeployMetadata(meta);
  } catch (cause) {
    throw notOnline(source, `its metadata is unreadable (${(cause as Error).message})`, cause);
  }
  if (info.kind !== 'online') throw notOnline(source, `it is a ${info.kind} model (tsm_kind=${meta.tsm_kind ?? 'unset'}), not an online step model`);
  if (info.arch !== 'mobilenetv2') throw notOnline(source, `its architecture is ${info.arch}, not mobilenetv2`);
  const sd = new Map([...onnxInitializers(bytes, source)].filter(([k]) => /^(features|classifier)\./.test(k)));
  const model = networkFrom(sd, source);
  if (model.numClasses !== info.numClasses) throw notOnline(source, `its classifier has ${model.numClasses} outputs but its metadata says ${info.numClasses} classes`);
  return {
    source,
    format: 'onnx',
    model,
    labels: info.labels,
    prep: { inputSize: info.inputSize, scaleSize: info.scaleSize, mean: info.mean, std: info.std, inputRange: info.inputRange ?? 1 },
  };
}
