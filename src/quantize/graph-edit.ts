/**
 * Rewriting a finished {@link Graph}: the passes of this folder walk the old nodes in order and emit new ones
 * (copies with remapped inputs, or replacements), then build a graph with the outputs they choose. Names of
 * copied values stay as they were, so feeds, fetches and calibration ranges keep working across passes.
 */
import { InternalError } from '../errors.js';
import { type Attrs, type Graph, type Node, type OutputInfo, Value, inferOutputs } from '../graph/index.js';
import type { HostTensor } from '../tensor/index.js';

/** Options of one {@link GraphRewriter.node} call. */
export interface EmitOptions {
  /** Output names (must be unused); default `<node name>` or `<node name>:<i>`. */
  readonly outputNames?: readonly string[];
  /** Output infos for ops without a shape rule. */
  readonly outputs?: readonly OutputInfo[];
  readonly domain?: string;
}

/** Which nodes read each value, by value name (graph outputs are not counted). */
export function consumersOf(graph: Graph): Map<string, Node[]> {
  const out = new Map<string, Node[]>();
  for (const n of graph.nodes) {
    for (const i of n.inputs) {
      if (!i) continue;
      const list = out.get(i.name) ?? [];
      if (!list.includes(n)) list.push(n);
      out.set(i.name, list);
    }
  }
  return out;
}

/** Builds a new graph from an old one, node by node. */
export class GraphRewriter {
  private readonly names = new Set<string>();
  private readonly nodes: Node[] = [];
  private readonly inits = new Map<string, { value: Value; tensor: HostTensor }>();
  private readonly counters = new Map<string, number>();

  constructor(readonly source: Graph) {
    for (const v of source.inputs) this.names.add(v.name);
    for (const k of source.initializers.keys()) this.names.add(k);
    for (const n of source.nodes) {
      this.names.add(n.name);
      for (const o of n.outputs) this.names.add(o.name);
    }
  }

  /** An unused name built from `base`. */
  fresh(base: string): string {
    let name = base;
    let k = this.counters.get(base) ?? 0;
    while (this.names.has(name)) name = `${base}_${++k}`;
    this.counters.set(base, k);
    this.names.add(name);
    return name;
  }

  /** A new initializer, named `base` or a variant of it when that name is taken. */
  initializer(base: string, tensor: HostTensor): Value {
    const name = this.fresh(base);
    const v = new Value(name, tensor.dtype, tensor.shape, tensor);
    this.inits.set(name, { value: v, tensor });
    return v;
  }

  /**
   * A new initializer that takes over the name of an old one (`name` must then be read by no copied node, only
   * by new ones): a converted weight keeps its state-dict key.
   */
  replaceInitializer(name: string, tensor: HostTensor): Value {
    if (this.inits.has(name)) throw new InternalError(`initializer "${name}" is replaced twice`);
    const v = new Value(name, tensor.dtype, tensor.shape, tensor);
    this.inits.set(name, { value: v, tensor });
    return v;
  }

  /** Emits a new node named after `base`; returns its outputs. */
  node(op: string, base: string, inputs: readonly (Value | undefined)[], attrs: Attrs = {}, opts: EmitOptions = {}): Value[] {
    const name = this.fresh(base);
    const count = opts.outputs?.length ?? opts.outputNames?.length ?? 1;
    const infos = opts.outputs ?? inferOutputs(op, name, inputs, attrs, count);
    const outputs = infos.map((info, i) => {
      const outName = opts.outputNames?.[i] ?? this.fresh(count === 1 ? name : `${name}:${i}`);
      return new Value(outName, info.dtype, info.shape);
    });
    return this.push({ op, name, inputs: [...inputs], outputs, attrs, domain: opts.domain ?? '' });
  }

  /** Emits a copy of an old node that reads `inputs` instead; its outputs keep their names (new values). */
  copy(node: Node, inputs: readonly (Value | undefined)[], attrs: Attrs = node.attrs): Value[] {
    const infos = node.domain === '' ? inferOutputs(node.op, node.name, inputs, attrs, node.outputs.length) : node.outputs;
    const outputs = node.outputs.map((o, i) => new Value(o.name, infos[i].dtype, infos[i].shape));
    return this.push({ op: node.op, name: node.name, inputs: [...inputs], outputs, attrs, domain: node.domain });
  }

  private push(node: Node): Value[] {
    for (const o of node.outputs) o.producer = node;
    this.nodes.push(node);
    return [...node.outputs];
  }

  /**
   * Finishes the graph: `outputs` in order; initializers are the old ones still read plus the new ones.
   * @param metadata @default the source's
   */
  build(outputs: readonly Value[], metadata: ReadonlyMap<string, string> = this.source.metadata, inputs: readonly Value[] = this.source.inputs): Graph {
    const used = new Map<string, Set<Value>>();
    const use = (v: Value): void => void used.set(v.name, (used.get(v.name) ?? new Set()).add(v));
    for (const n of this.nodes) for (const i of n.inputs) if (i) use(i);
    for (const o of outputs) use(o);
    const initializers = new Map<string, { value: Value; tensor: HostTensor }>();
    for (const [k, e] of this.inits) if (used.has(k)) initializers.set(k, e);
    for (const [k, e] of this.source.initializers) {
      const readers = used.get(k);
      if (!readers?.has(e.value)) continue;
      if (initializers.has(k)) throw new InternalError(`initializer "${k}" was replaced but its old value is still read`);
      initializers.set(k, e);
    }
    return { name: this.source.name, opset: this.source.opset, inputs: [...inputs], outputs: [...outputs], nodes: [...this.nodes], initializers, metadata: new Map(metadata) };
  }
}
