/**
 * Parameters that a training step does not change, baked into its graph as initializers. Browser-safe.
 */
import { type Graph, type Value, rewriteGraph } from '../../graph/index.js';
import type { HostTensor } from '../../tensor/index.js';

/**
 * The graph inputs named in `frozen` become initializers of the same name holding those tensors. onnxruntime
 * then prepacks them: a depthwise Conv with a constant weight runs its fast kernel, where a fed weight runs a loop
 * over groups (~10x slower on small maps, and onnxruntime-web has no NCHWc kernels to avoid it). The graph must be
 * built again when those tensors change.
 * @param frozen tensors by graph input name (state-dict key); names the graph does not have as inputs are ignored
 * @returns a new graph; `graph` is not changed
 */
export function bakeFrozenParameters(graph: Graph, frozen: ReadonlyMap<string, HostTensor>): Graph {
  const baked = graph.inputs.filter((v) => frozen.has(v.name));
  if (baked.length === 0) return graph;
  const kept = graph.inputs.filter((v) => !frozen.has(v.name));
  return rewriteGraph({ ...graph, inputs: kept }, undefined, {
    replace: (g) => new Map(baked.map((v): [Value, Value] => [v, g.initializer(v.name, frozen.get(v.name) as HostTensor)])),
  });
}
