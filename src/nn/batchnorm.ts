import type { GraphBuilder, Value } from '../graph/index.js';
import { hostTensor } from '../tensor/index.js';
import { Module, Parameter } from './module.js';

/**
 * Mirrors `torch.nn.BatchNorm2d` (also used for 1-D and 3-D inputs: the op normalizes axis 1).
 * Keys: `weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`.
 * In training mode the batch statistics normalize, the running statistics are updated with `momentum` and the
 * unbiased variance, and `num_batches_tracked` (int64) counts the batch, as PyTorch does; the updates are recorded
 * with `g.updateState`.
 */
export class BatchNorm2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly running_mean: Parameter;
  readonly running_var: Parameter;
  readonly num_batches_tracked: Parameter;
  /** Frozen by partial BN: eval-mode statistics and no gradient for weight/bias, even when training. */
  frozen = false;

  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = Parameter.filled([numFeatures], 1);
    this.bias = Parameter.filled([numFeatures], 0);
    this.running_mean = Parameter.filled([numFeatures], 0, true);
    this.running_var = Parameter.filled([numFeatures], 1, true);
    this.num_batches_tracked = new Parameter(hostTensor('int64', [], new BigInt64Array(1)), true);
  }

  /** True when this layer uses batch statistics (training and not frozen). */
  get usesBatchStats(): boolean {
    return this.training && !this.frozen;
  }

  forward(g: GraphBuilder, x: Value): Value {
    const scale = this.weight.value(g);
    const bias = this.bias.value(g);
    const mean = this.running_mean.value(g);
    const variance = this.running_var.value(g);
    if (!this.usesBatchStats) return g.batchNorm(x, scale, bias, mean, variance, this.eps);
    // NOTE: momentum=0 makes ORT return the batch mean and the biased batch variance as outputs 1 and 2
    // (its running-stat update is then a no-op); the PyTorch-style update with the unbiased variance follows.
    const [y, batchMean, batchVar] = g.op(
      'BatchNormalization',
      [x, scale, bias, mean, variance],
      { epsilon: { f: this.eps }, momentum: { f: 0 }, training_mode: { i: 1 } },
      { numOutputs: 3 },
    );
    const shape = x.shape;
    const n = shape.reduce<number>((acc, d, i) => (i === 1 ? acc : acc * (typeof d === 'number' ? d : NaN)), 1);
    const m = this.momentum;
    const keep = g.scalar(1 - m);
    const newMean = g.add(g.mul(mean, keep), g.mul(batchMean, g.scalar(m)));
    const newVar = g.add(g.mul(variance, keep), g.mul(batchVar, g.scalar((m * n) / Math.max(n - 1, 1))));
    g.updateState(this.running_mean.key, newMean);
    g.updateState(this.running_var.key, newVar);
    const count = this.num_batches_tracked.value(g);
    g.updateState(this.num_batches_tracked.key, g.add(count, g.constant(hostTensor('int64', [], BigInt64Array.of(1n)), 'one')));
    return y;
  }
}
