import type { GraphBuilder, Value } from '../graph/index.js';
import { Module, Parameter } from './module.js';

/** Mirrors `torch.nn.Linear`; keys `weight` [out, in] and `bias` [out]. Input [N, in]. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    bias = true,
  ) {
    super();
    this.weight = Parameter.filled([outFeatures, inFeatures]);
    this.bias = bias ? Parameter.filled([outFeatures]) : undefined;
  }

  forward(g: GraphBuilder, x: Value): Value {
    return g.linear(x, this.weight.value(g), this.bias?.value(g));
  }
}
