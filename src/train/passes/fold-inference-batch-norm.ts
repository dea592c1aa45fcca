/**
 * Folding inference-mode BatchNormalization into the Conv before it, a rewrite of the training step's forward.
 * Browser-safe.
 */
import { type Graph, type GraphBuilder, type Node, type Value, attrFloat, attrInt, rewriteGraph } from '../../graph/index.js';
import { numel } from '../../tensor/index.js';

/**
 * Each inference-mode BatchNormalization (partial BN's frozen layers) that reads a Conv's output becomes that
 * Conv with scaled weights and a bias: `conv(x, W * s) + (beta - mean * s)`, `s = gamma / sqrt(var + eps)`. The
 * two per-channel passes over the activation (the BN forward and the `dy * s` of its backward) become small ops on
 * the weights; gradients still reach W (and gamma / beta when they train) through the fold. Exact up to float
 * rounding. The original Conv is left in place without readers (unless something else reads it): prune it with
 * {@link pruneUnused} once the graph is complete.
 * @returns a new graph; `graph` is not changed
 */
export function foldInferenceBatchNorm(graph: Graph): Graph {
  return rewriteGraph(graph, (node, inputs, g) => {
    if (node.op !== 'BatchNormalization' || node.domain !== '' || attrInt(node.attrs, 'training_mode', 0) === 1) return undefined;
    const folded = fold(g, inputs, attrFloat(node.attrs, 'epsilon', 1e-5));
    return folded && [folded];
  });
}

/** The folded Conv's output, or undefined when the BatchNormalization does not read a foldable Conv. */
function fold(g: GraphBuilder, inputs: readonly (Value | undefined)[], eps: number): Value | undefined {
  const [x, scale, bias, mean, variance] = inputs;
  const conv = x?.producer;
  if (!x || !scale || !bias || !mean || !variance) return undefined;
  if (conv?.op !== 'Conv' || conv.domain !== '' || conv.outputs.length !== 1) return undefined;
  const [cx, w, cb] = (conv as Node).inputs;
  if (!cx || !w || w.rank < 3) return undefined;
  if (!w.shape.every((d): d is number => typeof d === 'number')) return undefined;
  const o = w.shape[0];
  const s = g.div(scale, g.sqrt(g.add(variance, g.scalar(eps))));
  // NOTE: scaled as [O, C*k*k] x [O, 1]: broadcasting into trailing 1-dims ([O,1,1,1]) is per-element slow
  const wf = g.reshape(g.mul(g.reshape(w, [o, numel(w.shape as number[]) / o]), g.reshape(s, [o, 1])), w.shape as number[]);
  let bf = g.sub(bias, g.mul(mean, s));
  if (cb) bf = g.add(bf, g.mul(cb, s));
  // the Conv's own name, so profiles and the backward's node names still point at the conv layer
  return g.op('Conv', [cx, wf, bf], conv.attrs, { name: conv.name })[0];
}
