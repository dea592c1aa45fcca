/**
 * Rewriting a finished graph node by node with a {@link GraphBuilder}: a pass sees each node with its inputs as
 * rewritten so far and either keeps it or emits replacement nodes with the builder's ops, constants and names.
 */
import { InternalError } from '../errors.js';
import { GraphBuilder } from './builder.js';
import { type Graph, type Node, Value } from './ir.js';

/**
 * A rule of {@link rewriteGraph}: emit nodes on `g` that replace `node` and return the values that take the place
 * of its outputs (one per output), or return undefined to keep the node.
 * @param inputs the node's inputs as rewritten so far (use these, not `node.inputs`)
 */
export type NodeRewrite = (node: Node, inputs: readonly (Value | undefined)[], g: GraphBuilder) => readonly Value[] | undefined;

/** Options of {@link rewriteGraph}. */
export interface RewriteOptions {
  /**
   * Called once before the first node with the builder, whose inputs are `graph`'s: returns values that replace
   * others wherever a node reads them (e.g. an initializer made on `g` for a graph input that `graph` no longer lists).
   */
  readonly replace?: (g: GraphBuilder) => ReadonlyMap<Value, Value>;
}

/** The scope of a node named `scope/Op_n` (`''` for a top-level node), so replacements are named beside it. */
const scopeOf = (node: Node): string => node.name.slice(0, Math.max(0, node.name.lastIndexOf('/')));

/**
 * Rebuilds `graph` node by node in order. `rewrite` may replace a node by new ones, emitted on a builder that
 * continues the graph (its names taken, its small constants reused, its scope that of the node); a kept node whose
 * inputs changed is copied with new output values of the same names; an unchanged node is shared with `graph`,
 * which is left as it was. Outputs follow their replacements (a replaced output may have a new name); inputs,
 * metadata and initializers carry over, less those nothing reads any more.
 * @example
 * // every Relu becomes Clip(0, 6)
 * const relu6 = rewriteGraph(graph, (node, [x], g) => (node.op === 'Relu' && x ? [g.clip(x, 0, 6)] : undefined));
 */
export function rewriteGraph(graph: Graph, rewrite: NodeRewrite | undefined, opts: RewriteOptions = {}): Graph {
  const reserved = graph.nodes.flatMap((n) => [n.name, ...n.outputs.map((o) => o.name)]);
  const g = GraphBuilder.from({ ...graph, nodes: [], outputs: [] }, { reservedNames: reserved });
  const map = new Map(opts.replace?.(g));
  const current = (v: Value | undefined): Value | undefined => (v && map.get(v)) ?? v;
  for (const node of graph.nodes) {
    const inputs = node.inputs.map(current);
    const replaced = rewrite && g.scope(scopeOf(node), () => rewrite(node, inputs, g));
    if (replaced) {
      if (replaced.length !== node.outputs.length) throw new InternalError(`rewrite of ${node.op} "${node.name}" gave ${replaced.length} values for ${node.outputs.length} outputs`);
      node.outputs.forEach((o, i) => map.set(o, replaced[i]));
    } else if (inputs.every((v, i) => v === node.inputs[i])) {
      g.append(node);
    } else {
      const outputs = node.outputs.map((o) => new Value(o.name, o.dtype, o.shape, o.constant));
      g.append({ ...node, inputs, outputs });
      node.outputs.forEach((o, i) => map.set(o, outputs[i]));
    }
  }
  for (const o of graph.outputs) g.output(current(o) as Value);
  return g.build();
}
