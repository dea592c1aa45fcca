/**
 * The teacher's step graph, as built by `buildTrainStepGraph`, rewritten for the kernels it runs on in the page:
 * onnxruntime-web's wasm build. Browser-safe.
 */
import { type Graph, rewriteGraph } from '../graph/index.js';

/**
 * Every `Clip` that onnxruntime does not fuse into the Conv before it (the ReLU6 after a Gemm, the ReLU6
 * gradient's `Ceil(Clip(...))`) becomes `Min(Max(x, lo), hi)`: the same values. The wasm build's Clip is not
 * vectorised and its Max and Min are (teacher's step, each node's best run summed, 1 thread: the Clips 18.1-18.6
 * ms, the Max and Min that replace them 7.6 ms; onnxruntime-node runs either in about 1 ms; docs/teach.md).
 * @returns a new graph; `graph` is not changed
 */
export function clipAsMinMax(graph: Graph): Graph {
  return rewriteGraph(graph, (node, [x, lo, hi], g) => {
    if (node.op !== 'Clip' || node.domain !== '' || !x) return undefined;
    // NOTE: onnxruntime fuses Conv + Clip into one FusedConv, which a Max/Min pair would undo
    if (x.producer?.op === 'Conv') return undefined;
    let y = x;
    if (lo) y = g.op('Max', [y, lo])[0];
    if (hi) y = g.op('Min', [y, hi])[0];
    return [y];
  });
}

/** The teacher's step graph from `buildTrainStepGraph`'s: {@link clipAsMinMax}. */
export const teachStepGraph = (graph: Graph): Graph => clipAsMinMax(graph);
