import type { GraphBuilder, PoolOptions, Value } from '../graph/index.js';
import { Module } from './module.js';

/** Mirrors `torch.nn.MaxPool2d` (and MaxPool3d: the kernel's length decides). */
export class MaxPool extends Module {
  constructor(readonly options: PoolOptions) {
    super();
  }

  forward(g: GraphBuilder, x: Value): Value {
    return g.maxPool(x, this.options);
  }
}

/** Mirrors `torch.nn.AvgPool2d` (`count_include_pad` defaults to true, as PyTorch). */
export class AvgPool extends Module {
  constructor(readonly options: PoolOptions) {
    super();
  }

  forward(g: GraphBuilder, x: Value): Value {
    return g.averagePool(x, this.options);
  }
}

/** Mirrors `torch.nn.AdaptiveAvgPool2d(1)`: global average pooling, output [N, C, 1, 1]. */
export class AdaptiveAvgPool2d extends Module {
  forward(g: GraphBuilder, x: Value): Value {
    return g.globalAveragePool(x);
  }
}
