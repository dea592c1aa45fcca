/**
 * The gradient rule table: one small function per ONNX op type (tinygrad's `gradient.py` pattern).
 */
import type { Node } from '../../graph/index.js';
import { clipGrad, reluGrad } from './activation.js';
import { batchNormGrad } from './batchnorm.js';
import { convGrad } from './conv.js';
import { addGrad, divGrad, expGrad, logGrad, mulGrad, negGrad, sigmoidGrad, sqrtGrad, subGrad } from './elementwise.js';
import { gemmGrad, matMulGrad } from './linalg.js';
import {
  concatGrad,
  expandGrad,
  gatherElementsGrad,
  identityGrad,
  padGrad,
  reshapeGrad,
  sliceGrad,
  splitGrad,
  transposeGrad,
} from './movement.js';
import { averagePoolGrad, globalAveragePoolGrad, maxPoolGrad } from './pool.js';
import { reduceMeanGrad, reduceSumGrad } from './reduce.js';
import { dropoutGrad, logSoftmaxGrad, softmaxGrad } from './softmax.js';
import type { GradRule } from './types.js';

export type { GradContext, GradRule } from './types.js';

/** Gradient rules by ONNX op type (default domain); other domains are keyed `domain:Op`. */
export const GRAD_RULES: Readonly<Record<string, GradRule>> = Object.freeze({
  Conv: convGrad,
  BatchNormalization: batchNormGrad,
  Relu: reluGrad,
  Clip: clipGrad,
  MaxPool: maxPoolGrad,
  AveragePool: averagePoolGrad,
  GlobalAveragePool: globalAveragePoolGrad,
  ReduceMean: reduceMeanGrad,
  ReduceSum: reduceSumGrad,
  Gemm: gemmGrad,
  MatMul: matMulGrad,
  Add: addGrad,
  Sub: subGrad,
  Mul: mulGrad,
  Div: divGrad,
  Neg: negGrad,
  Exp: expGrad,
  Log: logGrad,
  Sqrt: sqrtGrad,
  Sigmoid: sigmoidGrad,
  Concat: concatGrad,
  Split: splitGrad,
  Slice: sliceGrad,
  Pad: padGrad,
  Reshape: reshapeGrad,
  Flatten: reshapeGrad,
  Squeeze: reshapeGrad,
  Unsqueeze: reshapeGrad,
  Transpose: transposeGrad,
  Expand: expandGrad,
  Identity: identityGrad,
  Dropout: dropoutGrad,
  LogSoftmax: logSoftmaxGrad,
  Softmax: softmaxGrad,
  GatherElements: gatherElementsGrad,
});

/** The key of a node in {@link GRAD_RULES}: its op type, prefixed by its domain outside the default one. */
export const ruleKey = (node: Node): string => (node.domain && node.domain !== 'ai.onnx' ? `${node.domain}:${node.op}` : node.op);
