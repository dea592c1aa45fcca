/**
 * Rounding-error bounds for the numeric tests: a tolerance is the error bound of the computation being checked,
 * so it holds for every correct fp32 implementation (onnxruntime picks other GEMM/conv kernels, summation orders
 * and NCHWc block sizes on AVX2-only and AVX-512 CPUs), not what one CPU's kernels happen to give.
 *
 * The model is IEEE 754 arithmetic with round to nearest: fl(a op b) = (a op b)(1 + d), |d| <= u, with u the unit
 * roundoff (2^-24 for float32, 2^-53 for float64). References:
 * - Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed. (2002), Lemma 3.1 and section 3.1: a dot product
 *   of length k computed in any order satisfies |fl(a.b) - a.b| <= gamma_k * sum |a_i b_i|, gamma_k = k u / (1 - k u).
 * - Higham and Mary, "A new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput. 41(5) (2019),
 *   Theorem 3.1: if the rounding errors are independent with mean zero, the same error is at most
 *   gammaTilde_k(lambda) * sum |a_i b_i|, gammaTilde_k(lambda) = exp(lambda sqrt(k) u + k u^2 / (1 - u)) - 1
 *   (about lambda sqrt(k) u), with probability at least 1 - 2k exp(-lambda^2 (1 - u)^2 / 2).
 * Where a test compares two computations (ours against a float64 reference, or two graph formulations), the
 * tolerance is the sum of both sides' bounds.
 */
import { type Conv2dRef, conv2dRef, pool2dRef } from './reference-ops.js';

/** Unit roundoff of float32 (binary32, round to nearest). */
export const U32 = 2 ** -24;

/** Unit roundoff of float64. */
export const U64 = 2 ** -53;

/** Largest integer below which every integer is exactly representable in float32. */
export const F32_EXACT_INT = 2 ** 24;

/**
 * gamma_k = k u / (1 - k u): the worst-case relative error of a result that went through k roundings
 * (Higham, Lemma 3.1). Throws when k u >= 1, where no such bound exists.
 */
export function gamma(k: number, u = U32): number {
  const ku = k * u;
  if (!(ku < 1)) throw new RangeError(`gamma_${k} is undefined for u = ${u} (k u >= 1)`);
  return ku / (1 - ku);
}

/** Worst-case error bound of a length-k dot product (any summation order, with or without FMA): gamma_k sum|a_i b_i|. */
export const dotBound = (k: number, sumAbs: number, u = U32): number => gamma(k, u) * sumAbs;

/**
 * lambda for {@link probGamma} such that the probabilistic bound fails with probability at most `failure` over
 * `count` bounded quantities, each a sum of at most `k` rounded terms (union bound over Higham and Mary's
 * 1 - 2k exp(-lambda^2 (1-u)^2 / 2)).
 */
export function lambdaFor(k: number, count: number, failure = 1e-9, u = U32): number {
  return Math.sqrt(2 * Math.log((2 * k * count) / failure)) / (1 - u);
}

/** Higham and Mary's probabilistic gammaTilde_k(lambda) = exp(lambda sqrt(k) u + k u^2 / (1 - u)) - 1. */
export function probGamma(k: number, lambda: number, u = U32): number {
  return Math.expm1(lambda * Math.sqrt(k) * u + (k * u * u) / (1 - u));
}

/**
 * Probabilistic error bound of a length-k dot product, about lambda sqrt(k) u sum|a_i b_i| (Higham and Mary 2019):
 * for reductions long enough that the deterministic {@link dotBound} is uselessly loose.
 */
export const probDotBound = (k: number, sumAbs: number, lambda: number, u = U32): number => probGamma(k, lambda, u) * sumAbs;

/** The smaller of the worst-case and the probabilistic gamma for k roundings. */
export const bestGamma = (k: number, lambda: number, u = U32): number => Math.min(k * u < 1 ? gamma(k, u) : Infinity, probGamma(k, lambda, u));

/** Elementwise |x|. */
export const absOf = (x: ArrayLike<number>): Float32Array => Float32Array.from(x, Math.abs);

/** Elementwise `factor * a[i]` (+ `b[i]` when given): a per-element bound from per-element magnitudes. */
export function scaleBound(a: ArrayLike<number>, factor: number, b?: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => factor * Math.abs(a[i]) + (b ? b[i] : 0));
}

/** Elementwise sum of bounds (two sides of a comparison). */
export function addBounds(...bounds: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(bounds[0].length);
  for (const b of bounds) for (let i = 0; i < out.length; i++) out[i] += b[i];
  return out;
}

/**
 * Per-element error bound of one implementation of a 2-D convolution (`conv2dRef`'s arguments): each output is a
 * dot product of k = C/groups * kh * kw terms plus the bias, so its error is at most gamma_k' times the same
 * convolution of |x|, |w| and |b| (which is exactly sum |a_i b_i| per output, padding excluded).
 */
export function convBound(x: Float32Array, xs: number[], w: Float32Array, ws: number[], b: Float32Array | undefined, o: Conv2dRef, u = U32): Float64Array {
  const k = ws[1] * ws[2] * ws[3] + (b ? 1 : 0);
  const abs = conv2dRef(absOf(x), xs, absOf(w), ws, b && absOf(b), o).data;
  return scaleBound(abs, gamma(k, u));
}

/**
 * Per-element error bound of one implementation of average pooling: a sum of at most `kernel^2` terms, then one
 * division (or a reciprocal and a product): gamma_(k+1) times the same pooling of |x|. Max pooling is exact.
 */
export function avgPoolBound(x: Float32Array, xs: number[], kernel: number, stride: number, pad: number, ceil: boolean, countIncludePad: boolean, u = U32): Float64Array {
  const abs = pool2dRef('avg', absOf(x), xs, kernel, stride, pad, ceil, countIncludePad).data;
  return scaleBound(abs, gamma(kernel * kernel + 1, u));
}

/**
 * Accuracy taken for onnxruntime's fp32 elementary functions (exp, log, tanh, the logistic), in units of u. IEEE 754
 * does not require them to be correctly rounded and MLAS evaluates them by polynomial or rational approximations,
 * so this is a stated assumption about the library, with room over its design accuracy (about 1-4 u): exp, log and
 * tanh are relative to the result; the logistic is absolute (its approximation holds in absolute, not relative,
 * terms where the result is tiny).
 */
export const ELEMENTARY_ULPS = 8;
