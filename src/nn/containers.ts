import type { GraphBuilder, Value } from '../graph/index.js';
import { Module } from './module.js';

/** Mirrors `torch.nn.Sequential`: children are keyed `0`, `1`, ... and run in order. */
export class Sequential extends Module {
  [index: number]: Module;
  readonly length: number;

  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => {
      this[i] = m;
    });
    this.length = modules.length;
  }

  /** The children as an array. */
  get modules(): Module[] {
    return Array.from({ length: this.length }, (_, i) => this[i]);
  }

  forward(g: GraphBuilder, x: Value): Value {
    let y = x;
    for (let i = 0; i < this.length; i++) y = this[i].call(g, y);
    return y;
  }
}

/** Mirrors `torch.nn.Identity`. */
export class Identity extends Module {
  forward(_g: GraphBuilder, x: Value): Value {
    return x;
  }
}
