/**
 * float16 conversion: every float32 weight becomes float16 and every activation is computed in float16, with a
 * Cast at each float32 graph input and output so callers keep feeding and reading float32 (the online model's
 * shift buffers included). Halves the download; WebGPU runs it natively, while onnxruntime's CPU and wasm
 * backends insert Casts around the ops they have no float16 kernel for.
 */
import type { Graph, Value } from '../graph/index.js';
import { int } from '../graph/index.js';
import { ONNX_DTYPE } from '../graph/opset.js';
import { type HostTensor, hostTensor } from '../tensor/index.js';
import { GraphRewriter } from './graph-edit.js';

/** Largest finite float16. */
export const FLOAT16_MAX = 65504;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The IEEE half-precision bits of `value`, rounded to nearest even (as numpy's `astype(float16)`); values past
 * the float16 range become ±Infinity, NaN stays NaN.
 * @example floatToHalf(1) // 0x3c00
 */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // subnormal: shift the mantissa (with its implicit 1) into place, rounding to nearest even
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rest > half || (rest === half && (r & 1))) r += 1;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r += 1; // a carry into the exponent is still right
  return sign | r;
}

/** A float32 tensor as float16 bits; magnitudes past {@link FLOAT16_MAX} are clamped to it (as onnxconverter's). */
export function toFloat16(t: HostTensor<'float32'>): { tensor: HostTensor<'float16'>; clamped: number } {
  const src = t.data;
  const out = new Uint16Array(src.length);
  let clamped = 0;
  for (let i = 0; i < src.length; i++) {
    let v = src[i];
    if (v > FLOAT16_MAX || v < -FLOAT16_MAX) {
      v = Math.sign(v) * FLOAT16_MAX;
      clamped++;
    }
    out[i] = floatToHalf(v);
  }
  return { tensor: hostTensor('float16', t.shape, out), clamped };
}

/** What {@link convertToFloat16} did besides the conversion. */
export interface Float16Report {
  /** Weight values past the float16 range, clamped to ±65504. */
  readonly clamped: number;
}

/**
 * Converts a float32 graph to float16 inside, float32 at its inputs and outputs (names unchanged).
 * @example const { graph } = convertToFloat16(foldBatchNorm(exported.graph));
 */
export function convertToFloat16(graph: Graph): { graph: Graph; report: Float16Report } {
  const w = new GraphRewriter(graph);
  const map = new Map<string, Value>();
  let clamped = 0;
  const castTo = (dtype: 'float16' | 'float32') => ({ to: int(ONNX_DTYPE[dtype]) });
  for (const v of graph.inputs) {
    map.set(v.name, v.dtype === 'float32' ? w.node('Cast', `${v.name}/Cast`, [v], castTo('float16'), { outputNames: [w.fresh(`${v.name}_float16`)] })[0] : v);
  }
  for (const [k, e] of graph.initializers) {
    if (e.tensor.dtype !== 'float32') continue;
    const c = toFloat16(e.tensor as HostTensor<'float32'>);
    clamped += c.clamped;
    map.set(k, w.replaceInitializer(k, c.tensor));
  }
  const outputs = new Set(graph.outputs.map((o) => o.name));
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((v) => (v ? (map.get(v.name) ?? v) : undefined));
    // a Cast to float32 inside the graph now casts to float16
    const attrs = node.op === 'Cast' && (node.attrs.to as { i: number } | undefined)?.i === ONNX_DTYPE.float32 ? { ...node.attrs, ...castTo('float16') } : node.attrs;
    if (node.outputs.some((o) => outputs.has(o.name))) {
      const outs = w.node(node.op, node.name, inputs, attrs, { outputNames: node.outputs.map((o) => w.fresh(`${o.name}_float16`)), domain: node.domain });
      node.outputs.forEach((o, i) => map.set(o.name, outs[i]));
    } else {
      const outs = w.copy(node, inputs, attrs);
      node.outputs.forEach((o, i) => map.set(o.name, outs[i]));
    }
  }
  const outs = graph.outputs.map((o) => {
    const v = map.get(o.name) as Value;
    return v.dtype === 'float16' ? w.node('Cast', `${o.name}/Cast`, [v], castTo('float32'), { outputNames: [o.name] })[0] : v;
  });
  return { graph: w.build(outs), report: { clamped } };
}
