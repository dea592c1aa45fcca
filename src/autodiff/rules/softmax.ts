/**
 * Softmax and LogSoftmax over one axis (opset 13+ semantics), and Dropout through its mask.
 */
import { ONNX_DTYPE, type Value, attrInt } from '../../graph/index.js';
import { AutodiffError } from '../errors.js';
import { constScalar, normAxis, scalarLike } from '../ops.js';
import { type GradRule, firstGrad } from './types.js';

/** LogSoftmax: dx = dy - softmax * sum(dy), with softmax = exp(y). */
export const logSoftmaxGrad: GradRule = (g, node, grads) => {
  const dy = firstGrad(node, grads);
  const [y] = node.outputs;
  const axis = normAxis(attrInt(node.attrs, 'axis', -1), y.rank);
  return [g.sub(dy, g.mul(g.op('Exp', [y])[0], g.reduceSum(dy, [axis], true)))];
};

/** Softmax: dx = y * (dy - sum(dy * y)). */
export const softmaxGrad: GradRule = (g, node, grads) => {
  const dy = firstGrad(node, grads);
  const [y] = node.outputs;
  const axis = normAxis(attrInt(node.attrs, 'axis', -1), y.rank);
  return [g.mul(y, g.sub(dy, g.reduceSum(g.mul(dy, y), [axis], true)))];
};

/**
 * Dropout: in training mode dy * mask / (1 - ratio), with the mask the forward drew (output 1); in eval mode
 * (training_mode absent or false) it is the identity.
 */
export const dropoutGrad: GradRule = (g, node, grads) => {
  const dy = firstGrad(node, grads);
  const none = node.inputs.slice(1).map(() => undefined);
  const training = node.inputs[2] ? constScalar(node, 2, 'training_mode') !== 0 : false;
  const ratio = constScalar(node, 1, 'ratio') ?? 0.5;
  if (!training || ratio === 0) return [dy, ...none];
  const mask = node.outputs[1] as Value | undefined;
  if (!mask) {
    throw new AutodiffError('TSM_GRAD_UNSUPPORTED', `Dropout "${node.name}": training mode needs the mask output (numOutputs: 2) for its gradient`);
  }
  const m = g.op('Cast', [mask], { to: { i: ONNX_DTYPE[dy.dtype] } })[0];
  return [g.mul(g.mul(dy, m), scalarLike(g, dy, 1 / (1 - ratio))), ...none];
};
