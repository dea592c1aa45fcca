import type { GraphBuilder, Value } from '../graph/index.js';
import { UsageError } from '../errors.js';
import { Module, Parameter } from './module.js';

/** Options of a convolution, in `nn.ConvNd`'s terms; a number applies to every spatial dimension. */
export interface ConvOptions<T extends readonly number[]> {
  readonly kernelSize: number | T;
  /** @default 1 */
  readonly stride?: number | T;
  /** @default 0 */
  readonly padding?: number | T;
  /** @default 1 */
  readonly dilation?: number | T;
  /** @default 1 */
  readonly groups?: number;
  /** @default true */
  readonly bias?: boolean;
}

/** Options of {@link Conv2d}. */
export type Conv2dOptions = ConvOptions<readonly [number, number]>;
/** Options of {@link Conv3d}. */
export type Conv3dOptions = ConvOptions<readonly [number, number, number]>;

/**
 * What `Conv2d` and `Conv3d` share, as torch.nn's `_ConvNd`: keys `weight` [out, in/groups, ...kernel] and
 * `bias` [out].
 */
export abstract class ConvNd extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;
  readonly stride: readonly number[];
  readonly padding: readonly number[];
  readonly dilation: readonly number[];
  readonly groups: number;

  protected constructor(
    kind: string,
    dims: number,
    readonly inChannels: number,
    readonly outChannels: number,
    opts: ConvOptions<readonly number[]>,
  ) {
    super();
    const tuple = (v: number | readonly number[]): number[] => (typeof v === 'number' ? new Array<number>(dims).fill(v) : [...v]);
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new UsageError(`${kind}(${inChannels}, ${outChannels}): channels must be divisible by groups=${this.groups}`);
    }
    this.weight = Parameter.filled([outChannels, inChannels / this.groups, ...tuple(opts.kernelSize)]);
    this.bias = opts.bias === false ? undefined : Parameter.filled([outChannels]);
    this.stride = tuple(opts.stride ?? 1);
    this.padding = tuple(opts.padding ?? 0);
    this.dilation = tuple(opts.dilation ?? 1);
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

/** Mirrors `torch.nn.Conv2d`; keys `weight` [out, in/groups, kh, kw] and `bias` [out]. */
export class Conv2d extends ConvNd {
  declare readonly stride: readonly [number, number];
  declare readonly padding: readonly [number, number];
  declare readonly dilation: readonly [number, number];

  constructor(inChannels: number, outChannels: number, opts: Conv2dOptions) {
    super('Conv2d', 2, inChannels, outChannels, opts);
  }

  get kernelSize(): [number, number] {
    return [this.weight.shape[2], this.weight.shape[3]];
  }
}
