/**
 * Quantises an exported model graph (clip or online step model): int8 static QDQ calibrated on real clips, or
 * float16. Node only (calibration runs onnxruntime-node and reads clips from disk).
 */
import { UsageError } from '../errors.js';
import type { Graph, Node } from '../graph/index.js';
import { type HostTensor, hostTensor } from '../tensor/index.js';
import { type CalibrationMethod, CALIBRATION_METHODS, type Range, type TensorStats, rangeFor } from './calibration.js';
import { type CalibrationSet, DEFAULT_CALIBRATION_CLIPS, openCalibrationSet } from './calibration-data.js';
import { type CalibrationClip, collectStats } from './collect-stats.js';
import { foldBatchNorm } from './fold-batchnorm.js';
import { convertToFloat16 } from './fp16.js';
import { type ActivationType, ACTIVATION_TYPES, analyseQdq, insertQdq } from './qdq.js';

/** Precisions a model can be written in; `float32` is the unquantised export. */
export const PRECISIONS = Object.freeze({ float32: 'float32', int8: 'int8', float16: 'float16' } as const);
/** One of {@link PRECISIONS}. */
export type Precision = keyof typeof PRECISIONS;

/** Layers that can be left in float32 in an int8 model, by role. */
export const FLOAT_LAYERS = Object.freeze({ 'first-conv': 'first-conv', classifier: 'classifier' } as const);
/** One of {@link FLOAT_LAYERS}. */
export type FloatLayer = keyof typeof FLOAT_LAYERS;

/**
 * The calibration method `tsm export --quantize int8` uses unless told otherwise: min/max kept the most top-1
 * decisions of the float model on every model measured (docs/quantization.md); percentile gained no accuracy and
 * entropy clipped ReLU6 activations hard.
 */
export const DEFAULT_CALIBRATION_METHOD: CalibrationMethod = 'minmax';

/** Frames an online step model steps through per calibration clip (every 2nd frame of a 16-frame clip). */
export const ONLINE_CALIBRATION_FRAMES = 8;

/** What the quantiser needs to know about the model (a subset of the deployment metadata). */
export interface QuantizeModelInfo {
  readonly kind: 'clip' | 'online';
  readonly arch: string;
  readonly inputName: string;
  readonly inputSize: readonly [number, number];
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly inputRange?: 1 | 255;
  /** Frames per clip (clip models). */
  readonly segments: number;
  readonly bufferInputs: readonly string[];
  readonly bufferOutputs: readonly string[];
}

/** Options of {@link quantizeGraph}. */
export interface QuantizeOptions {
  readonly precision: Exclude<Precision, 'float32'>;
  /** int8 only: the calibration clips (see {@link openCalibrationSet}). */
  readonly calibration?: string;
  /** int8 only: clips to calibrate on. @default 32 */
  readonly calibrationClips?: number;
  /** int8 only. @default {@link DEFAULT_CALIBRATION_METHOD} */
  readonly method?: CalibrationMethod;
  /** int8 only: activation type. @default 'uint8' */
  readonly activationType?: ActivationType;
  /** int8 only: layers left in float32. @default none */
  readonly keepFloat?: readonly FloatLayer[];
  /** onnxruntime threads for calibration; 0 lets it decide. @default 0 */
  readonly threads?: number;
  /** Calibration progress: clips done of `total`. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** How an int8 model was calibrated (written to its metadata). */
export interface CalibrationRecord {
  readonly method: CalibrationMethod;
  readonly clips: number;
  /** The calibration set as given, and what it held. */
  readonly source: string;
  readonly activations: string;
  readonly weights: string;
  /** Nodes left in float32. */
  readonly floatNodes: readonly string[];
}

/** What {@link quantizeGraph} returns. */
export interface QuantizedGraph {
  readonly graph: Graph;
  readonly precision: Exclude<Precision, 'float32'>;
  readonly calibration?: CalibrationRecord;
  /** float16: weights clamped to the float16 range. */
  readonly clamped?: number;
}

/** Checks the quantisation options before anything slow happens. @throws {UsageError} naming the option */
export function checkQuantizeOptions(opts: QuantizeOptions): void {
  if (!(opts.precision in PRECISIONS) || opts.precision === ('float32' as string)) {
    throw UsageError.expected('precision', 'one of int8, float16', opts.precision);
  }
  if (opts.precision === 'int8') {
    if (opts.calibration === undefined) {
      throw new UsageError(`precision: 'int8' needs calibration: PATH (a dataset folder, a folder of videos, or a folder of frame folders)`, { options: ['precision', 'calibration'] });
    }
    if (opts.method !== undefined && !(opts.method in CALIBRATION_METHODS)) {
      throw UsageError.expected('method', `one of ${Object.keys(CALIBRATION_METHODS).join(', ')}`, opts.method);
    }
    if (opts.activationType !== undefined && !(opts.activationType in ACTIVATION_TYPES)) {
      throw UsageError.expected('activationType', `one of ${Object.keys(ACTIVATION_TYPES).join(', ')}`, opts.activationType);
    }
    for (const l of opts.keepFloat ?? []) if (!(l in FLOAT_LAYERS)) throw UsageError.expected('keepFloat', `a list of ${Object.keys(FLOAT_LAYERS).join(', ')}`, l);
  } else {
    const extra = (['calibration', 'calibrationClips', 'method', 'activationType', 'keepFloat'] as const).filter((k) => opts[k] !== undefined);
    if (extra.length > 0) {
      throw new UsageError(`precision: 'float16' is not calibrated; drop ${extra.join(', ')}`, { options: ['precision', ...extra] });
    }
  }
  if (opts.calibrationClips !== undefined && (!Number.isInteger(opts.calibrationClips) || opts.calibrationClips < 1)) {
    throw UsageError.expected('calibrationClips', 'a positive integer', opts.calibrationClips);
  }
}

/** The node names of `layers` in a (folded) model graph. */
export function floatLayerNodes(graph: Graph, layers: readonly FloatLayer[]): string[] {
  const inputs = new Set(graph.inputs.map((v) => v.name));
  const names: string[] = [];
  const convs = graph.nodes.filter((n) => n.op === 'Conv');
  const reads = (n: Node, seen = new Set<Node>()): boolean =>
    n.inputs.some((v) => v !== undefined && (inputs.has(v.name) || (v.producer !== undefined && !seen.has(v.producer) && v.producer.op !== 'Conv' && reads(v.producer, seen.add(v.producer)))));
  if (layers.includes('first-conv')) {
    const first = convs.find((n) => reads(n));
    if (first) names.push(first.name);
  }
  if (layers.includes('classifier')) {
    const fc = [...graph.nodes].reverse().find((n) => n.op === 'Gemm' || n.op === 'MatMul');
    if (fc) names.push(fc.name);
  }
  return names;
}

/** The model inputs of one calibration clip: the whole clip, or its frames one by one (online). */
function stepsOf(info: QuantizeModelInfo, input: HostTensor<'float32'>): CalibrationClip {
  const [c, h, w] = input.shape;
  if (info.kind === 'clip') return [hostTensor('float32', [1, c, h, w], input.data)];
  const per = 3 * h * w;
  return Array.from({ length: c / 3 }, (_, t) => hostTensor('float32', [1, 3, h, w], input.data.subarray(t * per, (t + 1) * per)));
}

/** Opens the calibration set of a model: its clip length and preprocessing. */
export function openModelCalibrationSet(info: QuantizeModelInfo, path: string, clips?: number): Promise<CalibrationSet> {
  return openCalibrationSet({
    path,
    clips,
    segments: info.kind === 'online' ? ONLINE_CALIBRATION_FRAMES : info.segments,
    preprocessing: { inputSize: info.inputSize, mean: info.mean, std: info.std, inputRange: info.inputRange, bgr: info.arch === 'BNInception' },
  });
}

/**
 * Calibrates a folded float graph: the statistics of every tensor the int8 model needs a range for.
 * Exposed so several methods can be compared over one calibration run.
 */
export async function calibrate(
  folded: Graph,
  info: QuantizeModelInfo,
  set: CalibrationSet,
  opts: Pick<QuantizeOptions, 'activationType' | 'keepFloat' | 'threads' | 'onProgress'> & { readonly histograms?: boolean } = {},
): Promise<Map<string, TensorStats>> {
  const state = stateOf(info);
  const analysis = analyseQdq(folded, { activationType: opts.activationType, keepFloat: floatLayerNodes(folded, opts.keepFloat ?? []), state });
  async function* clips(): AsyncGenerator<CalibrationClip> {
    for await (const item of set.read()) yield stepsOf(info, item.input);
  }
  return collectStats(folded, analysis.calibrate, clips(), { inputName: info.inputName, state, threads: opts.threads, histograms: opts.histograms, onClip: (d) => opts.onProgress?.(d, set.clips) });
}

/** Input -> output pairs of the online model's carried shift buffers. */
export const stateOf = (info: QuantizeModelInfo): Record<string, string> => Object.fromEntries(info.bufferInputs.map((n, i) => [n, info.bufferOutputs[i]]));

/** Ranges of every calibrated tensor by `method`. */
export function rangesFrom(stats: ReadonlyMap<string, TensorStats>, method: CalibrationMethod): Map<string, Range> {
  return new Map([...stats].map(([k, s]) => [k, rangeFor(s, method)]));
}

/**
 * Quantises a float32 model graph (from {@link buildClipExportGraph} / {@link buildOnlineExportGraph}, or read
 * back from a `.onnx`). BatchNormalization is folded into the convolutions first. Node only.
 * @throws {UsageError} for bad options, or a calibration path that is missing or empty
 * @throws {DataError} for calibration frames that cannot be read; {@link ShapeError} for frames that do not fit
 * @example
 * const q = await quantizeGraph(exported.graph, exported.info, { precision: 'int8', calibration: 'data/synthetic' });
 */
export async function quantizeGraph(graph: Graph, info: QuantizeModelInfo, opts: QuantizeOptions): Promise<QuantizedGraph> {
  checkQuantizeOptions(opts);
  const folded = foldBatchNorm(graph);
  if (opts.precision === 'float16') {
    const { graph: g, report } = convertToFloat16(folded);
    return { graph: g, precision: 'float16', clamped: report.clamped };
  }
  const set = await openModelCalibrationSet(info, opts.calibration as string, opts.calibrationClips ?? DEFAULT_CALIBRATION_CLIPS);
  const method = opts.method ?? DEFAULT_CALIBRATION_METHOD;
  const stats = await calibrate(folded, info, set, { ...opts, histograms: method !== 'minmax' });
  const keepFloat = floatLayerNodes(folded, opts.keepFloat ?? []);
  const activationType = opts.activationType ?? 'uint8';
  const q = insertQdq(folded, rangesFrom(stats, method), { activationType, keepFloat, state: stateOf(info) });
  return {
    graph: q,
    precision: 'int8',
    calibration: {
      method,
      clips: set.clips,
      source: set.source,
      activations: activationType === 'uint8' ? 'uint8 asymmetric, per tensor' : 'int8 symmetric, per tensor',
      weights: 'int8 symmetric, per output channel',
      floatNodes: keepFloat,
    },
  };
}
