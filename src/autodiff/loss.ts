/**
 * Losses built from differentiable primitives, so the backward needs no special rule:
 * cross-entropy = NLL of LogSoftmax, and NLL = -mean of the log-probabilities gathered at the labels.
 */
import { type GraphBuilder, type Value, shapeToString } from '../graph/index.js';
import { ShapeError } from '../errors.js';

/**
 * `F.nll_loss(logp, labels)` with mean reduction: `-mean_n logp[n, labels[n]]`.
 * @param logp log-probabilities `[N, C]`
 * @param labels int64 class indices `[N]`
 * @returns the scalar loss
 * @throws {ShapeError} when the shapes do not fit
 */
export function nllLoss(g: GraphBuilder, logp: Value, labels: Value): Value {
  if (logp.rank !== 2 || labels.rank !== 1 || labels.dtype !== 'int64') {
    throw new ShapeError(`nllLoss: expected log-probabilities [N, C] and int64 labels [N], got ${shapeToString(logp.shape)} and ${labels.dtype}${shapeToString(labels.shape)}`);
  }
  const picked = g.op('GatherElements', [logp, g.unsqueeze(labels, [1])], { axis: { i: 1 } })[0]; // [N, 1]
  return g.neg(g.reduceMean(picked, [0, 1], false));
}

/**
 * `nn.CrossEntropyLoss()(logits, labels)` (mean over the batch), as LogSoftmax + NLL.
 * @param logits scores `[N, C]`
 * @param labels int64 class indices `[N]`
 * @returns the scalar loss
 * @example
 * const loss = crossEntropy(g, model.forward(g, clip), g.input('labels', 'int64', [batch]));
 */
export function crossEntropy(g: GraphBuilder, logits: Value, labels: Value): Value {
  return nllLoss(g, g.logSoftmax(logits, 1), labels);
}
