/**
 * BatchNormalization in training mode (batch statistics) and in eval mode (running statistics: frozen layers
 * under partial BN, where only x gets a gradient).
 */
import { type GraphBuilder, type Value, attrFloat, attrInt } from '../../graph/index.js';
import { AutodiffError } from '../errors.js';
import { channelShape, prod, scalarLike, staticShape } from '../ops.js';
import { type GradRule, firstGrad } from './types.js';

const otherAxes = (rank: number): number[] => Array.from({ length: rank }, (_, i) => i).filter((i) => i !== 1);

/** 1 / sqrt(var + eps), per channel. */
function invStd(g: GraphBuilder, variance: Value, eps: number): Value {
  return g.op('Reciprocal', [g.sqrt(g.add(variance, scalarLike(g, variance, eps)))])[0];
}

/**
 * Training mode: with xhat = (x - mu) * invstd, y = gamma * xhat + beta and M elements per channel,
 *   dbeta = sum(dy),  dgamma = invstd * (sum(dy*x) - mu * sum(dy)),
 *   dx = a*dy + b*x + c  with  a = gamma*invstd,  b = -a*invstd*dgamma/M,  c = -a*dbeta/M - b*mu.
 * NOTE: two ReduceSums (dy and dy*x) and per-channel math on [C] vectors; the batch mean and biased variance
 * come from the forward node's outputs 1 and 2 (momentum=0), so nothing is recomputed.
 */
function trainingGrad(g: GraphBuilder, node: Parameters<GradRule>[1], dy: Value, needs: readonly boolean[]): (Value | undefined)[] {
  const [x, gamma] = node.inputs as Value[];
  const where = `BatchNormalization "${node.name}"`;
  const xs = staticShape(x, where);
  const c = xs[1];
  const rank = xs.length;
  const eps = attrFloat(node.attrs, 'epsilon', 1e-5);
  if (node.outputs.length < 3) {
    // onnxruntime rejects training_mode=1 with fewer outputs, so this is a graph built by hand.
    throw new AutodiffError('TSM_GRAD_UNSUPPORTED', `${where}: training mode needs the batch mean and variance outputs (numOutputs: 3)`);
  }
  const [, mu, variance] = node.outputs;
  const m = prod(xs) / c;
  const axes = otherAxes(rank);
  const cs = channelShape(c, rank);
  const s1 = g.reduceSum(dy, axes, false); // [C]
  const s2 = g.reduceSum(g.mul(dy, x), axes, false); // [C]
  const istd = invStd(g, variance, eps);
  const dgamma = g.mul(istd, g.sub(s2, g.mul(mu, s1)));
  let dx: Value | undefined;
  if (needs[0]) {
    const a = g.mul(gamma, istd);
    const b = g.mul(g.mul(a, istd), g.mul(dgamma, scalarLike(g, x, -1 / m)));
    const cc = g.sub(g.mul(a, g.mul(s1, scalarLike(g, x, -1 / m))), g.mul(b, mu));
    dx = g.add(g.add(g.mul(dy, g.reshape(a, cs)), g.mul(x, g.reshape(b, cs))), g.reshape(cc, cs));
  }
  return [dx, needs[1] ? dgamma : undefined, needs[2] ? s1 : undefined, undefined, undefined];
}

/** Eval mode: y = gamma * (x - mean) * invstd + beta with fixed statistics; dx = dy * gamma * invstd. */
function evalGrad(g: GraphBuilder, node: Parameters<GradRule>[1], dy: Value, needs: readonly boolean[]): (Value | undefined)[] {
  const [x, gamma, , mean, variance] = node.inputs as Value[];
  const where = `BatchNormalization "${node.name}"`;
  const xs = staticShape(x, where);
  const rank = xs.length;
  const cs = channelShape(xs[1], rank);
  const istd = invStd(g, variance, attrFloat(node.attrs, 'epsilon', 1e-5));
  const dx = needs[0] ? g.mul(dy, g.reshape(g.mul(gamma, istd), cs)) : undefined;
  const dgamma = needs[1] ? g.reduceSum(g.mul(dy, g.mul(g.sub(x, g.reshape(mean, cs)), g.reshape(istd, cs))), otherAxes(rank), false) : undefined;
  const dbeta = needs[2] ? g.reduceSum(dy, otherAxes(rank), false) : undefined;
  return [dx, dgamma, dbeta, undefined, undefined];
}

/** BatchNormalization: gradients of x, scale and bias (none for the statistics inputs). */
export const batchNormGrad: GradRule = (g, node, grads, { needs }) => {
  const dy = firstGrad(node, grads);
  if (grads.slice(1).some((d) => d !== undefined)) {
    throw new AutodiffError(
      'TSM_GRAD_UNSUPPORTED',
      `BatchNormalization "${node.name}": the loss depends on its batch statistics outputs; only output 0 can carry a gradient`,
    );
  }
  if (needs[3] || needs[4]) {
    throw new AutodiffError('TSM_GRAD_UNSUPPORTED', `BatchNormalization "${node.name}": no gradient through the running statistics inputs`);
  }
  const training = attrInt(node.attrs, 'training_mode', 0) === 1;
  const res = training ? trainingGrad(g, node, dy, needs) : evalGrad(g, node, dy, needs);
  return res.slice(0, node.inputs.length);
};
