/**
 * ReduceSum / ReduceMean: the gradient is dy broadcast back over the reduced axes (divided by the count for
 * the mean). Axes come from the attribute (opset < 18) or the axes input.
 */
import { type Dim, type Value, attrInt, isStatic } from '../../graph/index.js';
import { expandTo, reduceAxes, reshapeTo, scalarLike, staticShape } from '../ops.js';
import { type GradRule, firstGrad } from './types.js';

function reduceGrad(mean: boolean): GradRule {
  return (g, node, grads) => {
    const dy = firstGrad(node, grads);
    const [x] = node.inputs as Value[];
    const axes = reduceAxes(node, x.rank);
    if (axes.length === 0) return [dy, undefined].slice(0, node.inputs.length);
    const keepShape: Dim[] = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    let d = attrInt(node.attrs, 'keepdims', 1) === 1 ? dy : reshapeTo(g, dy, keepShape);
    if (mean) {
      const reduced = axes.map((a) => x.shape[a]);
      const count = reduced.every(isStatic) ? reduced.reduce((a, b) => a * b, 1) : staticShape(x, `${node.op} "${node.name}"`)[0];
      d = g.mul(d, scalarLike(g, d, 1 / count));
    }
    return [expandTo(g, d, x.shape), undefined].slice(0, node.inputs.length);
  };
}

/** ReduceSum: broadcast dy back. */
export const reduceSumGrad: GradRule = reduceGrad(false);

/** ReduceMean: broadcast dy / count back. */
export const reduceMeanGrad: GradRule = reduceGrad(true);
