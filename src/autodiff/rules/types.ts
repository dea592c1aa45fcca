import { InternalError } from '../../errors.js';
import type { GraphBuilder, Node, Value } from '../../graph/index.js';

/** What the driver tells a rule besides the node and its output gradients. */
export interface GradContext {
  /** `needs[i]`: input `i` leads back to a value being differentiated. Rules skip the others (return undefined). */
  readonly needs: readonly boolean[];
}

/**
 * A gradient rule: given the forward node and the gradients of its outputs (`undefined` where an output got
 * none, e.g. BatchNormalization's batch statistics), emits nodes and returns one gradient per node input
 * (`undefined` = no gradient), aligned with `node.inputs`.
 */
export type GradRule = (g: GraphBuilder, node: Node, outputGrads: readonly (Value | undefined)[], ctx: GradContext) => readonly (Value | undefined)[];

/** The gradient of the first output, which every single-output rule needs. */
export function firstGrad(node: Node, outputGrads: readonly (Value | undefined)[]): Value {
  const dy = outputGrads[0];
  if (!dy) {
    // Only multi-output ops can get here with output 0 unused; their rules handle that themselves.
    throw new InternalError(`${node.op} "${node.name}": output 0 has no gradient`);
  }
  return dy;
}
