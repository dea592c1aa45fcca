import type { GraphBuilder, Value } from '../graph/index.js';
import { UsageError } from '../errors.js';
import { hostTensor } from '../tensor/index.js';
import { Module } from './module.js';

/**
 * Mirrors `torch.nn.Dropout`. Identity in eval mode; in training mode an ONNX Dropout whose mask is drawn by
 * onnxruntime from `seed` (its mask output is what the backward pass reuses).
 */
export class Dropout extends Module {
  seed = 0;

  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p < 1)) throw UsageError.expected('dropout', 'a probability in [0, 1)', p);
  }

  forward(g: GraphBuilder, x: Value): Value {
    if (!this.training || this.p === 0) return x;
    const ratio = g.scalar(this.p);
    const on = g.constant(hostTensor('bool', [], Uint8Array.of(1)), 'training_mode');
    return g.op('Dropout', [x, ratio, on], { seed: { i: this.seed } }, { numOutputs: 2 })[0];
  }
}
