/**
 * `tsm export`: writes a checkpoint as a self-contained ONNX file — the clip model (`[B, T·3, H, W]` -> logits)
 * or the online step model (frame + ten shift buffers in, logits + ten buffers out) — with the labels, input
 * size, normalization, segments and buffer shapes in its metadata, so onnxruntime-node, onnxruntime-web and the
 * web demo need nothing else. Node only.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { DEFAULT_OPSET, type Graph, encodeOnnx } from '../graph/index.js';
import { parseCheckpointName } from '../models/config.js';
import { ONLINE_INPUT_MEAN, ONLINE_INPUT_STD, ONLINE_STEP_NAMES, type OnlineMobileNetV2, buildOnlineStepGraph, resolveInputSize } from '../models/online-mobilenet-v2.js';
import { type TsnOverrides, loadTsnCheckpoint } from '../models/load.js';
import { loadOnlineMobileNetV2 } from '../models/online.js';
import { type TSN, buildTsnGraph } from '../models/tsn.js';
import { writeFileAtomic } from '../util/atomic-write.js';
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

function checkOpset(opset: number): number {
  if (!Number.isInteger(opset) || opset < MIN_EXPORT_OPSET || opset > MAX_EXPORT_OPSET) {
    throw UsageError.expected('--opset', `an integer from ${MIN_EXPORT_OPSET} to ${MAX_EXPORT_OPSET} (17 passes Debian's onnx checker)`, opset);
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

/**
 * Reads a labels file: one class name per line (trailing whitespace and blank trailing lines dropped, as the
 * original reads category files). Node only.
 * @throws {UsageError} when the file cannot be read or is empty
 */
export async function readLabelsFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new UsageError(`cannot read labels file ${path}: ${(cause as Error).message}`, { cause });
  }
  const lines = text.split(/\r?\n/).map((l) => l.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new UsageError(`labels file ${path} is empty; it needs one class name per line`);
  return lines;
}

/** What {@link writeExport} wrote. */
export interface ExportResult {
  readonly path: string;
  /** File size in bytes. */
  readonly bytes: number;
  readonly kind: ModelKind;
  readonly info: ExportGraph['info'];
}

/**
 * Encodes an export graph and writes it atomically (temporary file + rename). Node only.
 * @example await writeExport(buildOnlineExportGraph(model), 'online.onnx');
 */
export async function writeExport(exported: ExportGraph, path: string): Promise<ExportResult> {
  const bytes = encodeOnnx(exported.graph, { opset: exported.graph.opset });
  await writeFileAtomic(path, bytes);
  return { path, bytes: bytes.length, kind: exported.info.kind, info: exported.info };
}

/** Options of {@link exportCheckpoint}. Every field but `weights` and `out` is optional. */
export interface ExportCheckpointOptions {
  /** The `.pth`: a TSN checkpoint, or (with `online`) the online demo's state dict or a TSM-MobileNetV2 TSN checkpoint. */
  readonly weights: string;
  /** Where to write the `.onnx` (atomically). */
  readonly out: string;
  /** Export the online step model instead of the clip model. @default false */
  readonly online?: boolean;
  /** Crop side. @default 224 (the clip model: the backbone's input size) */
  readonly inputSize?: number;
  /** Default-domain opset. @default 17 */
  readonly opset?: number;
  /** Symbolic batch (clip model only). @default false: a static batch of 1 */
  readonly dynamicBatch?: boolean;
  /** Class names; see {@link readLabelsFile}. @default the Jester gestures for 27 classes, else `class i` */
  readonly labels?: readonly string[];
  /** TSN configuration that wins over the file name and checkpoint (clip model): `numSegments`, `arch`, ... */
  readonly overrides?: TsnOverrides;
  /** Channel multiplier of an online checkpoint. @default 1 */
  readonly widthMult?: number;
  /** Receives announcements (defaults used, the configuration decided). */
  readonly onNote?: (message: string) => void;
}

/**
 * Loads a checkpoint and writes it as an ONNX model with deployment metadata. Node only.
 * @returns what was written
 * @throws {UsageError} for bad options (an online export with `dynamicBatch`, a wrong label count, a bad opset)
 * @throws {CheckpointError} when the weights do not fit the model
 * @example
 * await exportCheckpoint({ weights: 'mobilenetv2_jester_online.pth.tar', out: 'online.onnx', online: true });
 * await exportCheckpoint({ weights: 'TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth', out: 'clip.onnx', dynamicBatch: true });
 */
export async function exportCheckpoint(opts: ExportCheckpointOptions): Promise<ExportResult> {
  checkOpset(opts.opset ?? DEFAULT_OPSET); // fail before the (slow) checkpoint read
  if (opts.online) {
    if (opts.dynamicBatch) throw new UsageError('--dynamic-batch applies to the clip model only: the online model steps one stream (batch 1) at a time');
    const segments = opts.overrides?.numSegments;
    if (segments !== undefined && segments !== 1) opts.onNote?.(`--segments ${segments} is ignored for --online: the online model takes one frame per step`);
    const { model, layout } = await loadOnlineMobileNetV2(opts.weights, { widthMult: opts.widthMult, numClasses: opts.overrides?.numClass });
    // a checkpoint trained with --online-shift (`_online` in its name) already shifts one way only
    if (layout === 'tsn' && parseCheckpointName(opts.weights).shiftMode !== 'online') {
      opts.onNote?.('a TSN TSM-MobileNetV2 checkpoint: the online model shifts one way only (past to present), so its outputs differ from the clip model (tsm train --online-shift trains weights that run unchanged)');
    }
    return writeExport(buildOnlineExportGraph(model, { inputSize: opts.inputSize, opset: opts.opset, labels: opts.labels }), opts.out);
  }
  const { model, resolved } = await loadTsnCheckpoint(opts.weights, opts.overrides ?? {}, { onNote: opts.onNote });
  const o = resolved.options;
  opts.onNote?.(
    `clip model: ${o.baseModel}, ${o.numClass} classes, ${o.numSegments} segments, ${o.modality}${o.isShift ? `, shift 1/${o.shiftDiv} ${o.shiftPlace}` : ', no shift'}${o.temporalPool ? ', temporal pool' : ''}${o.nonLocal ? ', non-local' : ''}`,
  );
  return writeExport(buildClipExportGraph(model, { inputSize: opts.inputSize, opset: opts.opset, dynamicBatch: opts.dynamicBatch, labels: opts.labels }), opts.out);
}
