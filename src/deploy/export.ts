/**
 * `tsm export`: writes a checkpoint as a self-contained ONNX file — the clip model (`[B, T·3, H, W]` -> logits)
 * or the online step model (frame + ten shift buffers in, logits + ten buffers out) — with the labels, input
 * size, normalization, segments and buffer shapes in its metadata, so onnxruntime-node, onnxruntime-web and the
 * web demo need nothing else. Node only.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { UsageError } from '../errors.js';
import { DEFAULT_OPSET, type Graph, decodeGraph, encodeOnnx } from '../graph/index.js';
import { parseCheckpointName } from '../models/config.js';
import { type TsnOverrides, loadTsnCheckpoint } from '../models/load.js';
import { loadOnlineMobileNetV2 } from '../models/online.js';
import { type ExportGraph, buildClipExportGraph, buildOnlineExportGraph, checkOpset } from './export-graph.js';
import { CALIBRATION_METHODS, type CalibrationMethod, type FloatLayer, type QuantizeOptions, checkQuantizeOptions, missingCalibrationSet, quantizeGraph } from '../quantize/index.js';
import { DEPLOY_METADATA_KEYS, type ModelKind, parseDeployMetadata } from './metadata.js';
import { readOnnxMetadata } from './onnx-metadata.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export {
  MAX_EXPORT_OPSET,
  MIN_EXPORT_OPSET,
  buildClipExportGraph,
  buildOnlineExportGraph,
  type ClipExportGraphOptions,
  type ExportGraph,
  type ExportGraphOptions,
} from './export-graph.js';

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
  /** Write the model in int8 (static QDQ, calibrated on `calibration`) or float16. @default float32 */
  readonly quantize?: ExportQuantization;
  /** int8: the calibration clips (a dataset folder, a folder of videos, or a folder of frame folders). */
  readonly calibration?: string;
  /** int8: clips to calibrate on, spread over the set. @default 32 */
  readonly calibrationClips?: number;
  /** int8: how activation ranges are chosen. @default 'minmax' */
  readonly calibrationMethod?: CalibrationMethod;
  /** int8: layers left in float32. @default none */
  readonly keepFloat?: readonly FloatLayer[];
  /** onnxruntime threads for calibration; 0 lets it decide. @default 0 */
  readonly threads?: number;
  /** Receives announcements (defaults used, the configuration decided). */
  readonly onNote?: (message: string) => void;
  /** Calibration progress: clips done of `total`. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** The precisions `quantize` takes (as `tsm export --quantize` spells them). */
export const EXPORT_QUANTIZATIONS = Object.freeze({ int8: 'int8', fp16: 'fp16' } as const);
/** One of {@link EXPORT_QUANTIZATIONS}. */
export type ExportQuantization = keyof typeof EXPORT_QUANTIZATIONS;

/**
 * The quantiser's options of an export, checked (no file is read yet). The export's own options are checked here,
 * so that errors name them (`quantize`, `calibrationMethod`) rather than the quantiser's (`precision`, `method`).
 */
function quantizeOptionsOf(opts: ExportCheckpointOptions): QuantizeOptions | undefined {
  const calibrating = ['calibration', 'calibrationClips', 'calibrationMethod', 'keepFloat'] as const;
  if (opts.quantize === undefined) {
    const stray = calibrating.filter((k) => opts[k] !== undefined);
    if (stray.length > 0) throw new UsageError(`${stray.join(', ')} only apply with quantize: 'int8'`, { options: [...stray, 'quantize'] });
    return undefined;
  }
  if (!Object.hasOwn(EXPORT_QUANTIZATIONS, opts.quantize)) {
    throw new UsageError(`unsupported quantize ${JSON.stringify(opts.quantize)}; must be one of [${Object.keys(EXPORT_QUANTIZATIONS).join(', ')}]`, { options: ['quantize'] });
  }
  if (opts.quantize === 'int8') {
    if (opts.calibration === undefined) {
      throw new UsageError(`quantize: 'int8' needs calibration: PATH (a dataset folder, a folder of videos, or a folder of frame folders)`, { options: ['quantize', 'calibration'] });
    }
    if (opts.calibrationMethod !== undefined && !Object.hasOwn(CALIBRATION_METHODS, opts.calibrationMethod)) {
      throw UsageError.expected('calibrationMethod', `one of ${Object.keys(CALIBRATION_METHODS).join(', ')}`, opts.calibrationMethod);
    }
  } else {
    const extra = calibrating.filter((k) => opts[k] !== undefined);
    if (extra.length > 0) throw new UsageError(`quantize: 'fp16' is not calibrated; drop ${extra.join(', ')}`, { options: ['quantize', ...extra] });
  }
  const q: QuantizeOptions = {
    precision: opts.quantize === 'fp16' ? 'float16' : 'int8',
    calibration: opts.calibration,
    calibrationClips: opts.calibrationClips,
    method: opts.calibrationMethod,
    keepFloat: opts.keepFloat,
    threads: opts.threads,
    onProgress: opts.onProgress,
  };
  checkQuantizeOptions(q);
  // fail before the (slow) checkpoint read; an empty or unfit set is found when it is opened
  if (q.calibration !== undefined && !existsSync(q.calibration)) {
    throw missingCalibrationSet(q.calibration);
  }
  return q;
}

/**
 * Quantises an export graph as `q` says and records the precision and calibration in its metadata.
 * Node only. @throws as {@link quantizeGraph}
 */
export async function quantizeExport(exported: ExportGraph, q: QuantizeOptions): Promise<ExportGraph> {
  const r = await quantizeGraph(exported.graph, exported.info, q);
  const info = { ...exported.info, precision: r.precision };
  const meta = new Map(exported.graph.metadata);
  meta.set(DEPLOY_METADATA_KEYS.precision, r.precision);
  if (r.calibration) meta.set(DEPLOY_METADATA_KEYS.calibration, JSON.stringify(r.calibration));
  return { graph: { ...r.graph, metadata: meta }, info };
}

/**
 * Reads a model `tsm export` wrote back as an export graph (to quantise a model whose checkpoint is not at hand,
 * such as the shipped online model). Node only.
 * @throws {UsageError} when the file is not an exported float32 model
 */
export async function readExportedModel(path: string): Promise<ExportGraph> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new UsageError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  let graph: Graph;
  let meta: Record<string, string>;
  try {
    graph = decodeGraph(bytes);
    meta = readOnnxMetadata(bytes);
  } catch (err) {
    // the decoders see bytes, not the file they came from
    throw err instanceof UsageError ? new UsageError(`${path}: ${err.message}`, { cause: err }) : err;
  }
  if (meta[DEPLOY_METADATA_KEYS.kind] === undefined) throw new UsageError(`${path} has no tsm export metadata ("${DEPLOY_METADATA_KEYS.kind}"); quantise a model written by tsm export`);
  const { defaultLabels: _, ...info } = parseDeployMetadata(meta, { inputNames: graph.inputs.map((v) => v.name), outputNames: graph.outputs.map((v) => v.name) });
  if ((info.precision ?? 'float32') !== 'float32') throw new UsageError(`${path} is already ${info.precision}; quantise the float32 model it was made from`);
  return { graph, info };
}

/**
 * Loads a checkpoint and writes it as an ONNX model with deployment metadata. Node only.
 * @returns what was written
 * With `quantize`, the model is written in int8 or float16; `weights` may then also be a float32 `.onnx` written by
 * `tsm export`, which is quantised as it is. Nothing is written when anything fails.
 * @throws {UsageError} for bad options (an online export with `dynamicBatch`, a wrong label count, a bad opset,
 *   an unsupported `quantize`, a calibration path that is missing or empty)
 * @throws {CheckpointError} when the weights do not fit the model
 * @throws {ShapeError} {@link DataError} when calibration frames do not fit the model or cannot be read
 * @example
 * await exportCheckpoint({ weights: 'mobilenetv2_jester_online.pth.tar', out: 'online.onnx', online: true });
 * await exportCheckpoint({ weights: 'TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth', out: 'clip.onnx', dynamicBatch: true });
 * await exportCheckpoint({ weights: 'online.onnx', out: 'online.int8.onnx', quantize: 'int8', calibration: 'data/jester' });
 */
export async function exportCheckpoint(opts: ExportCheckpointOptions): Promise<ExportResult> {
  checkOpset(opts.opset ?? DEFAULT_OPSET); // fail before the (slow) checkpoint read
  const q = quantizeOptionsOf(opts);
  const finish = async (exported: ExportGraph): Promise<ExportResult> => writeExport(q ? await quantizeExport(exported, q) : exported, opts.out);
  if (extname(opts.weights).toLowerCase() === '.onnx') {
    if (!q) throw new UsageError(`${opts.weights} is already an ONNX model; pass quantize: 'int8|fp16' to write it in another precision, or a .pth to export`, { options: ['quantize'] });
    const changes = (['inputSize', 'dynamicBatch', 'labels', 'widthMult'] as const).filter((k) => opts[k] !== undefined && opts[k] !== false);
    if (changes.length > 0 || Object.keys(opts.overrides ?? {}).length > 0) {
      throw new UsageError(`an exported .onnx is quantised as it is; export the checkpoint again to change ${changes.length > 0 ? changes.join(', ') : 'its configuration'}`, { options: changes });
    }
    const exported = await readExportedModel(opts.weights);
    if (opts.online && exported.info.kind !== 'online') throw new UsageError(`online: ${opts.weights} is a ${exported.info.kind} model`, { options: ['online'] });
    opts.onNote?.(`${opts.weights}: ${exported.info.kind} model, ${exported.info.arch}, input ${exported.info.inputSize.join('x')}`);
    return finish(exported);
  }
  if (opts.online) {
    if (opts.dynamicBatch) throw new UsageError('dynamicBatch applies to the clip model only: the online model steps one stream (batch 1) at a time', { options: ['dynamicBatch'] });
    const segments = opts.overrides?.numSegments;
    if (segments !== undefined && segments !== 1) opts.onNote?.(`--segments ${segments} is ignored for --online: the online model takes one frame per step`);
    const { model, layout } = await loadOnlineMobileNetV2(opts.weights, { widthMult: opts.widthMult, numClasses: opts.overrides?.numClass });
    // a checkpoint trained with --online-shift (`_online` in its name) already shifts one way only
    if (layout === 'tsn' && parseCheckpointName(opts.weights).shiftMode !== 'online') {
      opts.onNote?.('a TSN TSM-MobileNetV2 checkpoint: the online model shifts one way only (past to present), so its outputs differ from the clip model (tsm train --online-shift trains weights that run unchanged)');
    }
    return finish(buildOnlineExportGraph(model, { inputSize: opts.inputSize, opset: opts.opset, labels: opts.labels }));
  }
  const { model, resolved } = await loadTsnCheckpoint(opts.weights, opts.overrides ?? {}, { onNote: opts.onNote });
  const o = resolved.options;
  opts.onNote?.(
    `clip model: ${o.baseModel}, ${o.numClass} classes, ${o.numSegments} segments, ${o.modality}${o.isShift ? `, shift 1/${o.shiftDiv} ${o.shiftPlace}` : ', no shift'}${o.temporalPool ? ', temporal pool' : ''}${o.nonLocal ? ', non-local' : ''}`,
  );
  return finish(buildClipExportGraph(model, { inputSize: opts.inputSize, opset: opts.opset, dynamicBatch: opts.dynamicBatch, labels: opts.labels }));
}
