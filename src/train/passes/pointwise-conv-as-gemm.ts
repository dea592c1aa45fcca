/**
 * 1x1 convolutions as one Gemm over the batch, a rewrite of the training step's forward. Browser-safe.
 */
import { type Attrs, type Graph, type GraphBuilder, type Value, attrInt, attrInts, attrString, rewriteGraph } from '../../graph/index.js';

/**
 * Each 1x1 convolution (stride 1, no padding or dilation, one group, static shapes) becomes one Gemm over every
 * pixel of the batch, `W [O, C] x X [C, N*H*W] (+ b)` between two Transposes, instead of the Conv that
 * onnxruntime runs as one small GEMM per image: on small maps (4x4, 2x2) those are too thin to be fast, in
 * onnxruntime-web most of all. The same values, up to float rounding.
 * @returns a new graph; `graph` is not changed
 */
export function pointwiseConvAsGemm(graph: Graph): Graph {
  return rewriteGraph(graph, (node, [x, w, b], g) => {
    if (node.op !== 'Conv' || node.domain !== '' || !x || !w || !isPointwise(x, w, node.attrs)) return undefined;
    return [pointwise(g, x, w, b)];
  });
}

/** A 1x1 convolution as `W [O, C] x X [C, N*H*W] (+ b)`, X the input with channels first. */
function pointwise(g: GraphBuilder, x: Value, w: Value, b: Value | undefined): Value {
  const [n, c, h, wd] = x.shape as number[];
  const o = (w.shape as number[])[0];
  return g.scope('pointwise', () => {
    const x2 = g.reshape(g.transpose(x, [1, 0, 2, 3]), [c, n * h * wd]);
    const w2 = g.reshape(w, [o, c]);
    const y2 = g.gemm(w2, x2, b ? g.reshape(b, [o, 1]) : undefined);
    return g.transpose(g.reshape(y2, [o, n, h, wd]), [1, 0, 2, 3]);
  });
}

/** A 1x1 convolution with stride 1, no padding or dilation, one group and static shapes. */
function isPointwise(x: Value, w: Value, attrs: Attrs): boolean {
  const auto = attrString(attrs, 'auto_pad', '');
  return (
    x.rank === 4 &&
    w.rank === 4 &&
    x.shape.every((d) => typeof d === 'number') &&
    w.shape.every((d) => typeof d === 'number') &&
    w.shape[2] === 1 &&
    w.shape[3] === 1 &&
    attrInt(attrs, 'group', 1) === 1 &&
    (attrInts(attrs, 'strides') ?? []).every((s) => s === 1) &&
    (attrInts(attrs, 'pads') ?? []).every((p) => p === 0) &&
    (attrInts(attrs, 'dilations') ?? []).every((d) => d === 1) &&
    (auto === '' || auto === 'NOTSET')
  );
}
