/**
 * `tsm export`: writes a checkpoint as a self-contained ONNX file — the clip model (`[B, T·3, H, W]` -> logits)
 * or the online step model (frame + ten shift buffers in, logits + ten buffers out) — with the labels, input
 * size, normalization, segments and buffer shapes in its metadata, so onnxruntime-node, onnxruntime-web and the
 * web demo need nothing else. Node only.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { DEFAULT_OPSET, encodeOnnx } from '../graph/index.js';
import { parseCheckpointName } from '../models/config.js';
import { type TsnOverrides, loadTsnCheckpoint } from '../models/load.js';
import { loadOnlineMobileNetV2 } from '../models/online.js';
import { type ExportGraph, buildClipExportGraph, buildOnlineExportGraph, checkOpset } from './export-graph.js';
import type { ModelKind } from './metadata.js';
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
