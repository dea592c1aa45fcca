/**
 * Depthwise convolutions through onnxruntime's blocked-layout (`com.microsoft.nchwc`) kernels.
 * NOTE: onnxruntime uses its fast NCHWc kernels only for weights that are constant initializers; a training graph
 * feeds weights as inputs, and standard depthwise Conv then falls back to a per-group loop (3-17x slower than
 * PyTorch; docs/training.md, "Fast ONNX formulations for training on onnxruntime CPU: measured facts"). The
 * contrib ops accept a runtime weight when the graph reorders it into the blocked layout itself (a Reshape +
 * Transpose, tiny for depthwise). This pass rewrites every eligible depthwise Conv of a finished graph (the
 * forward's, the stride-1 input gradient's and the weight gradient's grouped-conv trick) into ReorderInput ->
 * nchwc Conv -> ReorderOutput. Node only (it probes the runtime).
 */
import { type Graph, type Node, Value, attrInt, attrString } from '../graph/index.js';
import { createSession } from '../runtime/index.js';
import { type HostTensor, hostTensor } from '../tensor/index.js';

/** The opset import the rewritten graph needs. */
export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

let probed: Promise<number> | undefined;

/**
 * onnxruntime's NCHWc block size on this CPU (16 with AVX-512, 8 with AVX2), found by running a ReorderInput
 * on 4 channels and reading the padded channel count; 0 when the kernels are unavailable.
 */
export function nchwcBlockSize(): Promise<number> {
  probed ??= (async () => {
    const { GraphBuilder, encodeOnnx, sym } = await import('../graph/index.js');
    try {
      const g = new GraphBuilder({ name: 'nchwc_probe' });
      const x = g.input('x', 'float32', [1, 4, 1, 1]);
      const [y] = g.op('ReorderInput', [x], { channels_last: { i: 0 } }, { domain: NCHWC_DOMAIN, outputs: [{ dtype: 'float32', shape: [1, sym('C'), 1, 1] }] });
      g.output(y, 'y');
      const s = await createSession(encodeOnnx(g.build(), { extraOpsets: { [NCHWC_DOMAIN]: 1 } }), { threads: 1 });
      const out = await s.run({ x: hostTensor('float32', [1, 4, 1, 1], new Float32Array(4)) });
      await s.release();
      const block = out.y.shape[1];
      return block >= 4 && (block & (block - 1)) === 0 ? block : 0;
    } catch {
      return 0;
    }
  })();
  return probed;
}

/** Appends one node producing `out` (the rewrite's node factory). */
type Emit = (op: string, inputs: (Value | undefined)[], attrs: Node['attrs'], out: Value, domain?: string) => void;

/** The depthwise convolutions the pass rewrites: 2-D, float32, one input and output channel per group, C % block == 0. */
function eligible(node: Node, block: number): boolean {
  if (node.op !== 'Conv' || node.domain !== '') return false;
  const [x, w] = node.inputs;
  if (!x || !w || x.dtype !== 'float32' || x.rank !== 4 || w.rank !== 4) return false;
  const c = x.shape[1];
  const [o, cg] = w.shape;
  const autoPad = attrString(node.attrs, 'auto_pad', undefined);
  return typeof c === 'number' && cg === 1 && o === c && attrInt(node.attrs, 'group', 1) === c && c % block === 0 && (!autoPad || autoPad === 'NOTSET');
}

/**
 * Rewrites the eligible depthwise Convs of `graph` to the NCHWc kernels with in-graph filter reordering
 * (OIHW -> OIHWBo: `[C/B, B, kh, kw]` to `[C/B, kh, kw, B]`). Output names are kept, so feeds and fetches do not
 * change.
 * NOTE: for a depthwise filter `[C, 1, kh, kw]` OIHWBo is exactly the NCHWc layout of the same bytes viewed as
 * an image `[1, C, kh, kw]`, so the filter goes through ReorderInput (a blocked copy) instead of an N-d
 * Transpose. It matters for the weight gradient's grouped-conv trick, whose "filter" is dY (`[N*C, 1, Ho, Wo]`,
 * megabytes): up to 1 ms per layer at TSM-MobileNetV2 8x112x112, batch 2.
 * @param block the block size from {@link nchwcBlockSize}
 * @returns a new graph (the input is not modified) and the number of Convs rewritten
 */
export function rewriteDepthwiseNchwc(graph: Graph, block: number): { graph: Graph; rewritten: number } {
  const inits = new Map(graph.initializers);
  const names = new Set<string>([...graph.inputs.map((v) => v.name), ...inits.keys()]);
  for (const n of graph.nodes) for (const o of n.outputs) names.add(o.name);
  const fresh = (base: string): string => {
    let name = base;
    for (let i = 1; names.has(name); i++) name = `${base}_${i}`;
    names.add(name);
    return name;
  };
  const constInts = (values: readonly number[]): Value => {
    const t: HostTensor = hostTensor('int64', [values.length], BigInt64Array.from(values.map(BigInt)));
    const v = new Value(fresh('nchwc_shape'), 'int64', t.shape, t);
    inits.set(v.name, { value: v, tensor: t });
    return v;
  };
  const nodes: Node[] = [];
  // NOTE: the NCHWc layout of `[N, C, H, W]` is that of `[N*C, 1, H, W]` as a depthwise filter when C is a
  // multiple of the block: blocks never straddle images. The weight gradient's grouped-conv trick uses dY as the
  // `[N*C, 1, Ho, Wo]` filter, and the same dY is the input gradient's input, so one ReorderInput serves both.
  // Only tensors used as filters are shared: sharing the forward's reordered x with the weight gradient would
  // keep a second copy of every depthwise input alive through the backward pass (+15 % peak memory).
  const filterRoots = new Set<string>();
  const reordered = new Map<string, { readonly value: Value; readonly shape: readonly number[] }>();
  const rootOf = (v: Value): Value => {
    let r = v;
    while (r.producer?.op === 'Reshape' && r.producer.domain === '' && r.producer.inputs[0]) r = r.producer.inputs[0];
    return r;
  };
  const blocked = (v: Value, shape: readonly number[], mk: Emit): Value => {
    const key = rootOf(v).name;
    const hit = filterRoots.has(key) ? reordered.get(key) : undefined;
    const [n, c, h, w] = shape;
    if (hit && hit.shape[2] === h && hit.shape[3] === w && hit.shape[0] * hit.shape[1] === n * c) {
      if (hit.shape.every((d, i) => d === shape[i])) return hit.value;
      const view = new Value(fresh(`${hit.value.name}_view`), 'float32', shape);
      mk('Reshape', [hit.value, constInts(shape)], {}, view);
      return view;
    }
    let src = v;
    if (!v.shape.every((d, i) => d === shape[i])) {
      src = new Value(fresh(`${v.name}_img`), 'float32', shape);
      mk('Reshape', [v, constInts(shape)], {}, src);
    }
    const out = new Value(fresh(`${v.name}_nchwc`), 'float32', shape);
    mk('ReorderInput', [src], { channels_last: { i: 0 } }, out, NCHWC_DOMAIN);
    if (filterRoots.has(key)) reordered.set(key, { value: out, shape });
    return out;
  };
  if (block > 0) for (const node of graph.nodes) if (eligible(node, block)) filterRoots.add(rootOf(node.inputs[1] as Value).name);
  const reorderInput = (x: Value, mk: Emit): Value => {
    const xb = new Value(fresh(`${x.name}_nchwc`), 'float32', x.shape);
    mk('ReorderInput', [x], { channels_last: { i: 0 } }, xb, NCHWC_DOMAIN);
    return xb;
  };
  let rewritten = 0;
  for (const node of graph.nodes) {
    if (block === 0 || !eligible(node, block)) {
      nodes.push(node);
      continue;
    }
    rewritten++;
    const [x, w, b] = node.inputs as [Value, Value, Value | undefined];
    const [y] = node.outputs;
    // A new Value under the same name: consumers match by name, and the input graph's values stay untouched.
    const yOut = new Value(y.name, y.dtype, y.shape);
    const c = x.shape[1] as number;
    const [, , kh, kw] = w.shape as number[];
    const mk: Emit = (op, inputs, attrs, out, domain = '') => {
      const n: Node = { op, name: fresh(`${node.name}/nchwc_${op}`), inputs, outputs: [out], attrs, domain };
      if (out !== yOut) out.producer = n;
      nodes.push(n);
    };
    const wr = blocked(w, [1, c, kh, kw], mk);
    const wb = new Value(fresh(`${w.name}_nchwc`), 'float32', [c, 1, kh, kw]);
    mk('Reshape', [wr, constInts([c, 1, kh, kw])], {}, wb);
    const xb = x.shape.every((d) => typeof d === 'number') ? blocked(x, x.shape as number[], mk) : reorderInput(x, mk);
    const yb = new Value(fresh(`${y.name}_nchwc`), 'float32', y.shape);
    mk('Conv', b ? [xb, wb, b] : [xb, wb], node.attrs, yb, NCHWC_DOMAIN);
    mk('ReorderOutput', [yb], { channels: { i: c }, channels_last: { i: 0 } }, yOut, NCHWC_DOMAIN);
  }
  return { graph: { ...graph, nodes, initializers: inits }, rewritten };
}
