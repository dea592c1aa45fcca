/**
 * Training-mode Dropout as a multiply by a mask fed from the host, a rewrite of the training step's forward.
 * Browser-safe.
 */
import { UsageError } from '../../errors.js';
import { type Graph, rewriteGraph } from '../../graph/index.js';

/** A dropout mask input: its shape and the probability of a zero. */
export interface DropoutMaskInput {
  readonly shape: readonly number[];
  readonly ratio: number;
}

/**
 * Each training-mode Dropout with a constant ratio > 0 becomes `x * mask`, the mask a float32 graph input
 * `dropout_mask.<i>` (i counts the Dropouts in node order) of 0 or `1 / (1 - ratio)` that the runner draws.
 * Its outputs become `[x * mask, mask]`.
 * NOTE: onnxruntime's Dropout draws from a generator that lives in the session and advances every run, so a
 * resumed run (a new session) would draw the first epoch's masks again. A mask drawn on the host from
 * (seed, epoch, iteration) makes `--resume` continue bit-exactly.
 * @returns the new graph and its mask inputs, to be drawn every run (see `dropoutMask`)
 * @throws {UsageError} when a Dropout's input has no static shape
 */
export function dropoutAsMaskInputs(graph: Graph): { readonly graph: Graph; readonly masks: ReadonlyMap<string, DropoutMaskInput> } {
  const masks = new Map<string, DropoutMaskInput>();
  const rewritten = rewriteGraph(graph, (node, [x, ratio, training], g) => {
    if (node.op !== 'Dropout' || node.domain !== '' || !x || !ratio?.constant || !training) return undefined;
    const on = training.constant ? Number(training.constant.data[0]) !== 0 : true;
    const p = Number(ratio.constant.data[0]);
    if (!on || p === 0) return undefined;
    if (!x.shape.every((d): d is number => typeof d === 'number')) throw new UsageError(`Dropout input ${x.name} needs a static shape in a training step`);
    const name = `dropout_mask.${masks.size}`;
    masks.set(name, { shape: x.shape, ratio: p });
    const mask = g.input(name, 'float32', x.shape);
    return [g.mul(x, mask), mask].slice(0, node.outputs.length);
  });
  return { graph: rewritten, masks };
}
