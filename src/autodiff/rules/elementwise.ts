/**
 * Elementwise arithmetic with numpy broadcasting: each input's gradient is summed back to its own shape.
 */
import type { Value } from '../../graph/index.js';
import { scalarLike, sumToShape } from '../ops.js';
import { type GradRule, firstGrad } from './types.js';

/** d(a+b): dy to both, summed over broadcast axes. */
export const addGrad: GradRule = (g, node, grads, { needs }) => {
  const dy = firstGrad(node, grads);
  const [a, b] = node.inputs as Value[];
  return [needs[0] ? sumToShape(g, dy, a.shape) : undefined, needs[1] ? sumToShape(g, dy, b.shape) : undefined];
};

/** d(a-b): dy and -dy. */
export const subGrad: GradRule = (g, node, grads, { needs }) => {
  const dy = firstGrad(node, grads);
  const [a, b] = node.inputs as Value[];
  return [needs[0] ? sumToShape(g, dy, a.shape) : undefined, needs[1] ? g.neg(sumToShape(g, dy, b.shape)) : undefined];
};

/** d(a*b): dy*b and dy*a. */
export const mulGrad: GradRule = (g, node, grads, { needs }) => {
  const dy = firstGrad(node, grads);
  const [a, b] = node.inputs as Value[];
  return [needs[0] ? sumToShape(g, g.mul(dy, b), a.shape) : undefined, needs[1] ? sumToShape(g, g.mul(dy, a), b.shape) : undefined];
};

/** d(a/b): dy/b and -dy*y/b (y = a/b, so a is not needed twice). */
export const divGrad: GradRule = (g, node, grads, { needs }) => {
  const dy = firstGrad(node, grads);
  const [a, b] = node.inputs as Value[];
  const [y] = node.outputs;
  return [needs[0] ? sumToShape(g, g.div(dy, b), a.shape) : undefined, needs[1] ? g.neg(sumToShape(g, g.div(g.mul(dy, y), b), b.shape)) : undefined];
};

/** d(-x) = -dy. */
export const negGrad: GradRule = (g, node, grads) => [g.neg(firstGrad(node, grads))];

/** d(exp x) = dy * y. */
export const expGrad: GradRule = (g, node, grads) => [g.mul(firstGrad(node, grads), node.outputs[0])];

/** d(log x) = dy / x. */
export const logGrad: GradRule = (g, node, grads) => [g.div(firstGrad(node, grads), node.inputs[0] as Value)];

/** d(sqrt x) = dy / (2y). */
export const sqrtGrad: GradRule = (g, node, grads) => {
  const [y] = node.outputs;
  return [g.div(firstGrad(node, grads), g.mul(y, scalarLike(g, y, 2)))];
};

/** d(sigmoid x) = dy * y * (1 - y). */
export const sigmoidGrad: GradRule = (g, node, grads) => {
  const [y] = node.outputs;
  return [g.mul(firstGrad(node, grads), g.mul(y, g.sub(scalarLike(g, y, 1), y)))];
};
