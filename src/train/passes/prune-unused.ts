/**
 * Dropping what a finished graph does not need. Browser-safe.
 */
import type { Graph, Node } from '../../graph/index.js';

/**
 * The graph without the nodes whose outputs no output depends on (a Conv replaced by a BatchNorm fold or a Gemm)
 * and without the initializers only they read. Inputs stay, read or not: they are what callers feed.
 * @returns a new graph sharing `graph`'s nodes
 */
export function pruneUnused(graph: Graph): Graph {
  const used = new Set(graph.outputs.map((v) => v.name));
  const kept: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i];
    if (!n.outputs.some((v) => used.has(v.name))) continue;
    kept.push(n);
    for (const v of n.inputs) if (v) used.add(v.name);
  }
  kept.reverse();
  const initializers = new Map([...graph.initializers].filter(([k]) => used.has(k)));
  return { ...graph, nodes: kept, initializers };
}
