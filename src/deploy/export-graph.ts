/**
 * The graphs `tsm export` writes, with their deployment metadata: the clip model (`[B, T·3, H, W]` -> logits) and
 * the online step model (frame + ten shift buffers in, logits + ten buffers out). Browser-safe: the page exports
 * a model it trained itself with these; ./export.ts reads checkpoints and writes files in Node.
 */
import { UsageError } from '../errors.js';
import { DEFAULT_OPSET, type Graph } from '../graph/index.js';
import { ONLINE_INPUT_MEAN, ONLINE_INPUT_STD, ONLINE_STEP_NAMES, type OnlineMobileNetV2, buildOnlineStepGraph, resolveInputSize } from '../models/online-mobilenet-v2.js';
import { type TSN, buildTsnGraph } from '../models/tsn.js';
import { type DeployInfo, type ModelKind, defaultLabelsFor, formatDeployMetadata, scaleSizeFor } from './metadata.js';

/** Opsets an export may target: our graph layer writes 13 and up; Debian's onnx checker knows up to 17. */
export const MIN_EXPORT_OPSET = 13;
/** See {@link MIN_EXPORT_OPSET}. */
export const MAX_EXPORT_OPSET = 21;

/** Options shared by both graph builders. */
export interface ExportGraphOptions {
  /** Crop side, or `[height, width]`. @default 224 */
  readonly inputSize?: number | readonly [number, number];
  /** Default-domain opset. @default 17 */
  readonly opset?: number;
  /** Class names, `numClasses` long. @default the Jester gestures for 27 classes, else `class i` */
  readonly labels?: readonly string[];
}

/** Options of {@link buildClipExportGraph}. */
export interface ClipExportGraphOptions extends ExportGraphOptions {
  /** Symbolic batch `B` instead of a static 1. @default false */
  readonly dynamicBatch?: boolean;
}

/** A graph ready to encode, and what its metadata says. */
export interface ExportGraph {
  readonly graph: Graph;
  readonly info: Omit<DeployInfo, 'defaultLabels'>;
}

/** `opset` when it is one an export may target. @throws {UsageError} naming `opset` otherwise */
export function checkOpset(opset: number): number {
  if (!Number.isInteger(opset) || opset < MIN_EXPORT_OPSET || opset > MAX_EXPORT_OPSET) {
    throw UsageError.expected('opset', `an integer from ${MIN_EXPORT_OPSET} to ${MAX_EXPORT_OPSET} (17 passes Debian's onnx checker)`, opset);
  }
  return opset;
}

function checkLabels(labels: readonly string[] | undefined, numClasses: number): readonly string[] {
  if (!labels) return defaultLabelsFor(numClasses);
  if (labels.length !== numClasses) {
    throw new UsageError(`got ${labels.length} labels for a model with ${numClasses} classes; the labels file needs one class name per line, ${numClasses} lines`);
  }
  return labels;
}

/** Replaces the graph's metadata by `entries` (ours are complete, so the builders' own keys are dropped). */
const withMetadata = (graph: Graph, entries: Record<string, string>): Graph => ({ ...graph, metadata: new Map(Object.entries(entries)) });

/**
 * The online step graph of `model` with deployment metadata: inputs `frame` `[1,3,H,W]` and `buffer_0..9`,
 * outputs `logits` and `buffer_out_0..9`.
 * @param model a named online MobileNetV2 with its weights loaded
 * @throws {UsageError} for a bad opset, input size or label count
 * @example
 * const { model } = await loadOnlineMobileNetV2('online.pth');
 * const bytes = encodeOnnx(buildOnlineExportGraph(model, { inputSize: 224 }).graph);
 */
export function buildOnlineExportGraph(model: OnlineMobileNetV2, opts: ExportGraphOptions = {}): ExportGraph {
  const [h, w] = resolveInputSize(opts.inputSize);
  const opset = checkOpset(opts.opset ?? DEFAULT_OPSET);
  // the model's own step graph; its metadata is replaced by the complete deployment metadata below
  const graph = buildOnlineStepGraph(model, { inputSize: [h, w], opset });
  const shapes = model.bufferShapes(h, w, 1);
  const info: ExportGraph['info'] = {
    kind: 'online',
    arch: 'mobilenetv2',
    numClasses: model.numClasses,
    labels: checkLabels(opts.labels, model.numClasses),
    inputSize: [h, w],
    scaleSize: scaleSizeFor(Math.min(h, w)),
    mean: ONLINE_INPUT_MEAN,
    std: ONLINE_INPUT_STD,
    inputRange: 1,
    segments: 1,
    inputName: ONLINE_STEP_NAMES.frame,
    outputName: ONLINE_STEP_NAMES.logits,
    bufferInputs: ONLINE_STEP_NAMES.buffersIn,
    bufferOutputs: ONLINE_STEP_NAMES.buffersOut,
    bufferShapes: shapes,
    dynamicBatch: false,
  };
  return { graph: withMetadata(graph, formatDeployMetadata(info)), info };
}

/**
 * The clip graph of a TSN with deployment metadata: input `input` `[1 | B, T·C·L, H, W]`, output `logits`.
 * @throws {UsageError} for a bad opset, input size or label count
 * @example
 * const { graph } = buildClipExportGraph(model, { inputSize: 224, dynamicBatch: true });
 */
export function buildClipExportGraph(model: TSN, opts: ClipExportGraphOptions = {}): ExportGraph {
  const [h, w] = resolveInputSize(opts.inputSize ?? model.inputSize);
  const opset = checkOpset(opts.opset ?? DEFAULT_OPSET);
  const cfg = model.config;
  const built = buildTsnGraph(model, { height: h, width: w, opset, batch: opts.dynamicBatch ? undefined : 1, inputName: 'input', outputName: 'logits' });
  const perChannel = (v: readonly number[]) => (v.length === 1 ? [v[0], v[0], v[0]] : v);
  const info: ExportGraph['info'] = {
    kind: 'clip' satisfies ModelKind,
    arch: cfg.baseModel,
    numClasses: cfg.numClass,
    labels: checkLabels(opts.labels, cfg.numClass),
    inputSize: [h, w],
    scaleSize: scaleSizeFor(Math.min(h, w)),
    mean: perChannel(model.inputMean),
    std: perChannel(model.inputStd),
    inputRange: model.inputRange,
    segments: cfg.numSegments,
    inputName: 'input',
    outputName: 'logits',
    bufferInputs: [],
    bufferOutputs: [],
    bufferShapes: [],
    dynamicBatch: opts.dynamicBatch ?? false,
  };
  // keep the TSN builder's extra keys (modality, new_length, tsn_config); ours win where both write one
  const meta = { ...Object.fromEntries(built.metadata), ...formatDeployMetadata(info) };
  return { graph: withMetadata(built, meta), info };
}
