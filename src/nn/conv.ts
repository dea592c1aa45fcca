import type { GraphBuilder, Value } from '../graph/index.js';
import { UsageError } from '../errors.js';
import { Module, Parameter } from './module.js';

/** Options of {@link Conv2d}, in `nn.Conv2d`'s terms. */
export interface Conv2dOptions {
  readonly kernelSize: number | readonly [number, number];
  /** @default 1 */
  readonly stride?: number | readonly [number, number];
  /** @default 0 */
  readonly padding?: number | readonly [number, number];
  /** @default 1 */
  readonly dilation?: number | readonly [number, number];
  /** @default 1 */
  readonly groups?: number;
  /** @default true */
  readonly bias?: boolean;
}

const pair = (v: number | readonly [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/** Mirrors `torch.nn.Conv2d`; keys `weight` [out, in/groups, kh, kw] and `bias` [out]. */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    opts: Conv2dOptions,
  ) {
    super();
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new UsageError(`Conv2d(${inChannels}, ${outChannels}): channels must be divisible by groups=${this.groups}`);
    }
    const [kh, kw] = pair(opts.kernelSize);
    this.weight = Parameter.filled([outChannels, inChannels / this.groups, kh, kw]);
    this.bias = opts.bias === false ? undefined : Parameter.filled([outChannels]);
    this.stride = pair(opts.stride ?? 1);
    this.padding = pair(opts.padding ?? 0);
    this.dilation = pair(opts.dilation ?? 1);
  }

  get kernelSize(): [number, number] {
    return [this.weight.shape[2], this.weight.shape[3]];
  }

  forward(g: GraphBuilder, x: Value): Value {
    return g.conv(x, this.weight.value(g), this.bias?.value(g), {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}
