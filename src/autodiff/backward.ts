/**
 * Reverse-mode differentiation over our graph IR. The backward pass is emitted as more nodes in the same
 * builder, so forward, backward and the optimizer update of a step run as one onnxruntime graph.
 * As micrograd's `backward()`: a topological sort from the loss, then a reversed walk that asks each op's rule
 * for its inputs' gradients and sums the gradients of values used more than once.
 */
import { InternalError } from '../errors.js';
import { type GraphBuilder, type Node, type Value, shapeToString } from '../graph/index.js';
import { AutodiffError } from './errors.js';
import { expandTo, sameShape, scalarLike } from './ops.js';
import { GRAD_RULES, type GradRule, ruleKey } from './rules/index.js';

/** Options of {@link buildBackward}. */
export interface BackwardOptions {
  /** Gradient of the loss to start from (same shape as the loss). @default ones: d loss / d loss = 1 */
  readonly seed?: Value;
  /** Extra or replacement rules, keyed like {@link GRAD_RULES} (`'Conv'`, or `'domain:Op'` outside ONNX). */
  readonly rules?: Readonly<Record<string, GradRule>>;
  /** Scope that prefixes the names of the backward nodes. @default 'grad' */
  readonly scope?: string;
}

/** Nodes that `loss` depends on, in topological (producer before consumer) order. */
export function ancestorNodes(loss: Value): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  // Iterative post-order DFS: deep graphs (ResNet-101 backward) would overflow a recursive one.
  const stack: [Node, number][] = [];
  const push = (n: Node | undefined) => {
    if (n && !seen.has(n)) {
      seen.add(n);
      stack.push([n, 0]);
    }
  };
  push(loss.producer);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1] = i + 1;
      push(node.inputs[i]?.producer);
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order;
}

/**
 * Emits the gradient of `loss` with respect to each of `wrt` as graph nodes.
 * Only nodes between `wrt` and `loss` get backward nodes, and a rule is asked only for the inputs that lead
 * back to `wrt` (so the first conv's input gradient is never built).
 * @param g the builder that built `loss`; backward nodes are added to it
 * @param loss the value to differentiate (usually a scalar)
 * @param wrt values to differentiate with respect to (parameters or inputs)
 * @returns one gradient per `wrt` entry, `undefined` where `loss` does not depend on it
 * @throws {AutodiffError} `TSM_GRAD_RULE_MISSING` naming the op and node when an op on the path has no rule
 * @example
 * const g = new GraphBuilder({ paramMode: 'input' });
 * const loss = crossEntropy(g, model.forward(g, x), labels);
 * const [dW] = buildBackward(g, loss, [g.paramValues().get('fc.weight')!]);
 */
export function buildBackward(g: GraphBuilder, loss: Value, wrt: readonly Value[], opts: BackwardOptions = {}): (Value | undefined)[] {
  const rules = { ...GRAD_RULES, ...opts.rules };
  const nodes = ancestorNodes(loss);

  // Values that depend on some `wrt`: only these need gradients.
  const needs = new Set<Value>(wrt);
  for (const n of nodes) {
    if (n.inputs.some((i) => i !== undefined && needs.has(i))) for (const o of n.outputs) needs.add(o);
  }

  const pending = new Map<Value, Value[]>();
  const addGrad = (v: Value, d: Value) => {
    const list = pending.get(v);
    if (list) list.push(d);
    else pending.set(v, [d]);
  };
  const total = (v: Value): Value | undefined => {
    const list = pending.get(v);
    if (!list || list.length === 0) return undefined;
    // Gradients of a value used more than once add up (micrograd's `+=`).
    const sum = list.length === 1 ? list[0] : list.reduce((a, b) => g.add(a, b));
    pending.set(v, [sum]);
    return sum;
  };

  if (opts.seed) {
    if (!sameShape(opts.seed.shape, loss.shape)) {
      throw new AutodiffError('TSM_GRAD_SHAPE', `seed gradient ${shapeToString(opts.seed.shape)} does not match loss "${loss.name}" ${shapeToString(loss.shape)}`);
    }
    addGrad(loss, opts.seed);
  } else {
    addGrad(loss, expandTo(g, scalarLike(g, loss, 1), loss.shape));
  }

  g.scope(opts.scope ?? 'grad', () => {
    for (let k = nodes.length - 1; k >= 0; k--) {
      const node = nodes[k];
      const outGrads = node.outputs.map((o) => total(o));
      if (outGrads.every((d) => d === undefined)) continue;
      const mask = node.inputs.map((i) => i !== undefined && needs.has(i));
      if (!mask.some(Boolean)) continue;
      const key = ruleKey(node);
      const rule = rules[key];
      if (!rule) {
        throw new AutodiffError(
          'TSM_GRAD_RULE_MISSING',
          `no gradient rule for op ${key} (node "${node.name}", output "${node.outputs[0]?.name}"); add one to GRAD_RULES in src/autodiff/rules or pass it in options.rules`,
        );
      }
      const inGrads = g.scope(node.name, () => rule(g, node, outGrads, { needs: mask }));
      if (inGrads.length !== node.inputs.length) {
        throw new InternalError(`gradient rule of ${key} (node "${node.name}") gave ${inGrads.length} gradients, expected ${node.inputs.length}`);
      }
      inGrads.forEach((d, i) => {
        const x = node.inputs[i];
        if (!d || !x || !mask[i]) return;
        if (!sameShape(d.shape, x.shape) || d.dtype !== x.dtype) {
          throw new InternalError(
            `gradient rule of ${key} (node "${node.name}") gave ${d.dtype}${shapeToString(d.shape)} for input ${i} "${x.name}" of ${x.dtype}${shapeToString(x.shape)}`,
          );
        }
        addGrad(x, d);
      });
    }
  });
  return wrt.map((v) => total(v));
}
