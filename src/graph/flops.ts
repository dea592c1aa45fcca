/**
 * Multiply-accumulates of a graph, counted from its nodes and inferred shapes: Conv, ConvTranspose, Gemm and
 * MatMul, the ops that hold nearly all of a CNN's arithmetic. Everything else (BatchNormalization, activations,
 * pooling, and the temporal shift's Slice/Concat/Pad) counts zero, which is how the TSM paper counts FLOPs: the
 * shift is "zero FLOPs, zero parameters".
 */
import type { Dim } from './dims.js';
import { isStatic } from './dims.js';
import type { Graph, Node } from './ir.js';

/** Options of {@link countMacs}. */
export interface CountMacsOptions {
  /** Sizes of symbolic dimensions, e.g. `{ B: 1 }`. @default 1 for every symbol */
  readonly symbols?: Readonly<Record<string, number>>;
}

/** What {@link countMacs} returns. */
export interface MacCount {
  /** Multiply-accumulates of the whole graph. */
  readonly macs: number;
  /** MACs by op type (`Conv`, `Gemm`, ...). */
  readonly byOp: Readonly<Record<string, number>>;
  /** Nodes of the counted types, by op type. */
  readonly nodes: Readonly<Record<string, number>>;
  /** Op types of other domains (e.g. `com.microsoft.nchwc:Conv`) that were not counted. */
  readonly uncounted: readonly string[];
}

const size = (d: Dim, symbols: Readonly<Record<string, number>>): number => (isStatic(d) ? d : d.factor * (symbols[d.symbol] ?? 1));

const numel = (shape: readonly Dim[], symbols: Readonly<Record<string, number>>): number => shape.reduce<number>((p, d) => p * size(d, symbols), 1);

/** MACs of one node of the default domain; undefined for ops that are not counted. */
function nodeMacs(n: Node, symbols: Readonly<Record<string, number>>): number | undefined {
  const [a, b] = n.inputs;
  if (a === undefined || b === undefined) return undefined;
  const out = n.outputs[0];
  switch (n.op) {
    case 'Conv': {
      // every output element is a dot product over (C_in / groups) x kH x kW: weight [C_out, C_in/g, kH, kW]
      const perOutput = numel(b.shape.slice(1), symbols);
      return numel(out.shape, symbols) * perOutput;
    }
    case 'ConvTranspose': {
      // every input element is scattered through C_out / groups x kH x kW: weight [C_in, C_out/g, kH, kW]
      const perInput = numel(b.shape.slice(1), symbols);
      return numel(a.shape, symbols) * perInput;
    }
    case 'Gemm': {
      const transA = n.attrs.transA && 'i' in n.attrs.transA ? n.attrs.transA.i : 0;
      const k = size(a.shape[transA ? 0 : 1], symbols);
      return numel(out.shape, symbols) * k;
    }
    case 'MatMul':
      return numel(out.shape, symbols) * size(a.shape[a.shape.length - 1], symbols);
    default:
      return undefined;
  }
}

/**
 * Counts the multiply-accumulates of `graph` (FLOPs in the TSM paper's sense; 2 × MACs for multiply and add
 * counted apart). Build the graph with a fixed batch, or pass the symbols' sizes.
 * @example
 * const { macs } = countMacs(buildTsnGraph(tsn({ numClass: 400, numSegments: 8, baseModel: 'resnet50', isShift: true }), { height: 224, width: 224, batch: 1 }));
 * macs / 1e9 // ≈ 33 (8 frames × 4.1 G)
 */
export function countMacs(graph: Graph, opts: CountMacsOptions = {}): MacCount {
  const symbols = opts.symbols ?? {};
  const byOp: Record<string, number> = {};
  const nodes: Record<string, number> = {};
  const uncounted = new Set<string>();
  let macs = 0;
  for (const n of graph.nodes) {
    if (n.domain !== '') {
      if (/Conv|Gemm|MatMul/.test(n.op)) uncounted.add(`${n.domain}:${n.op}`);
      continue;
    }
    const m = nodeMacs(n, symbols);
    if (m === undefined) continue;
    macs += m;
    byOp[n.op] = (byOp[n.op] ?? 0) + m;
    nodes[n.op] = (nodes[n.op] ?? 0) + 1;
  }
  return { macs, byOp, nodes, uncounted: [...uncounted] };
}
