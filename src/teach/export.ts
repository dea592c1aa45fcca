/**
 * What a taught model is saved as: a `.pth` in the original's training-checkpoint form (`{'epoch', 'arch',
 * 'state_dict', 'best_prec1', 'categories'}`, the state dict in the online demo's key layout), which
 * `tsm infer-online`, `tsm export --online` and PyTorch read; and the exported online `.onnx` with its labels and
 * preprocessing in the metadata, as `tsm export --online` writes it. Browser-safe.
 */
import { encodePth } from '../checkpoint/pth-writer.js';
import { pyFloat } from '../checkpoint/py-values.js';
import { buildOnlineExportGraph } from '../deploy/export-graph.js';
import type { FramePreprocessing } from '../deploy/metadata.js';
import { encodeOnnx } from '../graph/index.js';
import type { OnlineMobileNetV2 } from '../models/online-mobilenet-v2.js';

/** Options of {@link taughtPth}. */
export interface TaughtPthOptions {
  /** Class names, in class order (`categories`). */
  readonly labels: readonly string[];
  /** Epochs trained (`epoch`). @default 0 */
  readonly epochs?: number;
  /** Final training top-1 in percent (`best_prec1`). @default 0 */
  readonly top1?: number;
}

/**
 * The `.pth` bytes of a taught model.
 * @example const bytes = taughtPth(model, { labels: ['wave', 'clap'], epochs: 12 });
 */
export function taughtPth(model: OnlineMobileNetV2, opts: TaughtPthOptions): Uint8Array {
  return encodePth({
    stateDict: model.stateDict(),
    meta: { epoch: opts.epochs ?? 0, arch: 'mobilenetv2', best_prec1: pyFloat(opts.top1 ?? 0), categories: [...opts.labels] },
  });
}

/**
 * The exported online `.onnx` bytes of a taught model (frame + ten shift buffers in, logits + buffers out).
 * @throws {UsageError} when the labels do not match the classifier
 */
export function taughtOnnx(model: OnlineMobileNetV2, labels: readonly string[], prep: Pick<FramePreprocessing, 'inputSize'>): Uint8Array {
  const { graph } = buildOnlineExportGraph(model, { inputSize: prep.inputSize as [number, number], labels });
  return encodeOnnx(graph, { opset: graph.opset });
}
