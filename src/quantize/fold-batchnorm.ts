/**
 * Folds eval-mode BatchNormalization into the convolution before it, as onnxruntime's Conv+BN fusion does at
 * load time. Quantisation needs it done in the graph: a Conv whose output is quantised can no longer be fused with
 * the BatchNormalization behind it, and the per-channel weight scales must be those of the folded weights.
 */
import { type Graph, type Value, attrFloat } from '../graph/index.js';
import { type HostTensor, float32, numel } from '../tensor/index.js';
import { GraphRewriter, consumersOf } from './graph-edit.js';

const constF32 = (v: Value | undefined): Float32Array | undefined =>
  v?.constant && v.constant.dtype === 'float32' ? (v.constant.data as Float32Array) : undefined;

/**
 * `Conv(x, W[, b]) -> BatchNormalization` becomes one `Conv(x, W', b')` with
 * `W'[o] = W[o] * gamma[o] / sqrt(var[o] + eps)` and `b' = (b - mean) * gamma / sqrt(var + eps) + beta`, the
 * Conv's output taking the BatchNormalization's name. Pairs whose Conv output is read elsewhere, or whose
 * parameters are not constants, are left as they are.
 * @example const folded = foldBatchNorm(buildOnlineExportGraph(model).graph);
 */
export function foldBatchNorm(graph: Graph): Graph {
  const consumers = consumersOf(graph);
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const w = new GraphRewriter(graph);
  const map = new Map<Value, Value>();
  const folded = new Set<string>();
  const at = (v: Value | undefined): Value | undefined => (v ? (map.get(v) ?? v) : undefined);
  for (const node of graph.nodes) {
    if (folded.has(node.name)) continue;
    if (node.op === 'Conv' && node.domain === '') {
      const y = node.outputs[0];
      const readers = consumers.get(y.name) ?? [];
      const bn = readers.length === 1 && readers[0].op === 'BatchNormalization' && readers[0].inputs[0] === y && !outputs.has(y.name) ? readers[0] : undefined;
      const weight = node.inputs[1]?.constant;
      const params = bn?.inputs.slice(1, 5).map(constF32);
      if (bn && weight?.dtype === 'float32' && params?.every((p) => p !== undefined) && bn.outputs.length === 1 && (node.inputs[2] === undefined || constF32(node.inputs[2]))) {
        const [gamma, beta, mean, variance] = params as Float32Array[];
        const eps = attrFloat(bn.attrs, 'epsilon', 1e-5);
        const out = weight.shape[0];
        const per = numel(weight.shape) / out;
        const src = weight.data as Float32Array;
        const wData = new Float32Array(src.length);
        const bData = new Float32Array(out);
        const bias = constF32(node.inputs[2]);
        for (let o = 0; o < out; o++) {
          // NOTE: float64 arithmetic, rounded once to float32, as onnxruntime's fusion keeps float32 per step
          const k = gamma[o] / Math.sqrt(variance[o] + eps);
          for (let i = o * per; i < (o + 1) * per; i++) wData[i] = src[i] * k;
          bData[o] = ((bias?.[o] ?? 0) - mean[o]) * k + beta[o];
        }
        const wName = node.inputs[1]?.name ?? `${node.name}.weight`;
        const wVal = w.initializer(`${wName}_folded`, float32(weight.shape, wData) as HostTensor);
        const bVal = w.initializer(`${wName.replace(/\.weight$/, '')}.bias_folded`, float32([out], bData) as HostTensor);
        const [conv] = w.node('Conv', node.name, [at(node.inputs[0]), wVal, bVal], node.attrs, { outputNames: [bn.outputs[0].name] });
        map.set(bn.outputs[0], conv);
        folded.add(bn.name);
        continue;
      }
    }
    const outs = w.copy(node, node.inputs.map(at));
    node.outputs.forEach((o, i) => map.set(o, outs[i]));
  }
  return w.build(graph.outputs.map((o) => at(o) as Value));
}
