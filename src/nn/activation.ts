import type { GraphBuilder, Value } from '../graph/index.js';
import { Module } from './module.js';

/** Mirrors `torch.nn.ReLU`. */
export class ReLU extends Module {
  forward(g: GraphBuilder, x: Value): Value {
    return g.relu(x);
  }
}

/** Mirrors `torch.nn.ReLU6`: clip(x, 0, 6). */
export class ReLU6 extends Module {
  forward(g: GraphBuilder, x: Value): Value {
    return g.clip(x, 0, 6);
  }
}
