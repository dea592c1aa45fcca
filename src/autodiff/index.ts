/**
 * Reverse-mode automatic differentiation on the graph IR: the backward pass becomes more graph nodes, so a
 * whole training step (forward, loss, backward, optimizer) is one onnxruntime run.
 */
export { buildBackward, ancestorNodes, type BackwardOptions } from './backward.js';
export { GRAD_RULES, ruleKey, type GradRule, type GradContext } from './rules/index.js';
export { crossEntropy, nllLoss } from './loss.js';
export { AutodiffError, type AutodiffErrorCode } from './errors.js';
export { sumToShape, zeros } from './ops.js';
