/**
 * Gemm and MatMul. Gemm's transposes are folded into the gradient Gemms' own trans flags, so no Transpose
 * node is emitted.
 */
import { type Value, attrFloat, attrInt } from '../../graph/index.js';
import { scalarLike, sumToShape } from '../ops.js';
import { type GradRule, firstGrad } from './types.js';

/**
 * Gemm: Y = alpha * op(A) op(B) + beta * C.
 * dA = alpha * dY op(B)ᵀ (transposed back when transA), dB = alpha * op(A)ᵀ dY (likewise), dC = beta * dY
 * summed to C's broadcast shape.
 */
export const gemmGrad: GradRule = (g, node, grads, { needs }) => {
  const dy = firstGrad(node, grads);
  const [a, b, c] = node.inputs as (Value | undefined)[];
  const ta = attrInt(node.attrs, 'transA', 0) === 1;
  const tb = attrInt(node.attrs, 'transB', 0) === 1;
  const alpha = attrFloat(node.attrs, 'alpha', 1);
  // NOTE: ONNX float attributes are 32-bit, so the forward scales C by fround(beta), in float64 graphs too; alpha
  // needs no rounding here because it stays an attribute of the gradient Gemms.
  const beta = Math.fround(attrFloat(node.attrs, 'beta', 1));
  let da: Value | undefined;
  let db: Value | undefined;
  if (needs[0]) {
    // op(A) = dY op(B)ᵀ; A = op(A) or its transpose.
    da = ta ? g.gemm(b as Value, dy, undefined, { transA: tb, transB: true, alpha }) : g.gemm(dy, b as Value, undefined, { transB: !tb, alpha });
  }
  if (needs[1]) {
    // op(B) = op(A)ᵀ dY; B = op(B) or its transpose.
    db = tb ? g.gemm(dy, a as Value, undefined, { transA: true, transB: ta, alpha }) : g.gemm(a as Value, dy, undefined, { transA: !ta, alpha });
  }
  let dc: Value | undefined;
  if (c && needs[2]) {
    const summed = sumToShape(g, dy, c.shape);
    dc = beta === 1 ? summed : g.mul(summed, scalarLike(g, summed, beta));
  }
  return c ? [da, db, dc] : [da, db];
};

const swapLast = (rank: number): number[] => [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];

/** MatMul (rank >= 2, batch axes broadcast): dA = dY Bᵀ, dB = Aᵀ dY, each summed over broadcast batch axes. */
export const matMulGrad: GradRule = (g, node, grads, { needs }) => {
  const dy = firstGrad(node, grads);
  const [a, b] = node.inputs as Value[];
  const da = needs[0] ? sumToShape(g, g.matMul(dy, g.transpose(b, swapLast(b.rank))), a.shape) : undefined;
  const db = needs[1] ? sumToShape(g, g.matMul(g.transpose(a, swapLast(a.rank)), dy), b.shape) : undefined;
  return [da, db];
};
