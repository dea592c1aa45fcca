/**
 * Scratch inputs for the running statistics of training-mode BatchNormalization, a rewrite of the training step's
 * forward. Browser-safe.
 */
import { type Graph, Value, attrInt, rewriteGraph } from '../../graph/index.js';

/** A graph input the runner fills with `fill` before every run, by name. */
export interface ScratchInput {
  readonly shape: readonly number[];
  readonly fill: number;
}

/**
 * Each training-mode BatchNormalization reads fresh scratch inputs `bn_scratch.<name>` (zeros for the mean, ones
 * for the variance) in place of the running statistics, which stay intact for the running-statistics update that
 * reads them afterwards.
 * NOTE: onnxruntime's BatchNormalization (opset 14+, training_mode=1) aliases outputs 1 and 2 to inputs 3 and 4
 * and writes the batch statistics into those buffers in place, even into a fed graph input (the caller's array
 * included). The update would then see the batch mean instead of the old running mean. With momentum=0 those
 * inputs do not affect the node's outputs, so any buffer of the right shape will do.
 * @returns the new graph and its scratch inputs, to be fed fresh every run
 */
export function batchNormScratchStatistics(graph: Graph): { readonly graph: Graph; readonly scratch: ReadonlyMap<string, ScratchInput> } {
  const scratch = new Map<string, ScratchInput>();
  const rewritten = rewriteGraph(graph, (node, inputs, g) => {
    const [x, scale, bias, mean, variance] = inputs;
    if (node.op !== 'BatchNormalization' || node.domain !== '' || attrInt(node.attrs, 'training_mode', 0) !== 1 || !mean || !variance) return undefined;
    const stat = (v: Value, fill: number): Value => {
      const name = `bn_scratch.${v.name}`;
      scratch.set(name, { shape: v.shape as number[], fill });
      return g.input(name, v.dtype, v.shape);
    };
    const reads = [x, scale, bias, stat(mean, 0), stat(variance, 1)];
    // the same node and output names: only two inputs change
    const outputs = node.outputs.map((o) => new Value(o.name, o.dtype, o.shape));
    g.append({ ...node, inputs: reads, outputs });
    return outputs;
  });
  return { graph: rewritten, scratch };
}
