import type { GraphBuilder, Value } from '../graph/index.js';
import { UsageError } from '../errors.js';
import { BatchNorm2d } from './batchnorm.js';
import { Module, Parameter } from './module.js';

type Triple = readonly [number, number, number];

/** Options of {@link Conv3d}, in `nn.Conv3d`'s terms. */
export interface Conv3dOptions {
  readonly kernelSize: number | Triple;
  /** @default 1 */
  readonly stride?: number | Triple;
  /** @default 0 */
  readonly padding?: number | Triple;
  /** @default 1 */
  readonly dilation?: number | Triple;
  /** @default 1 */
  readonly groups?: number;
  /** @default true */
  readonly bias?: boolean;
}

const triple = (v: number | Triple): [number, number, number] => (typeof v === 'number' ? [v, v, v] : [v[0], v[1], v[2]]);

/** Mirrors `torch.nn.Conv3d`; keys `weight` [out, in/groups, kt, kh, kw] and `bias` [out]. Input [N, C, T, H, W]. */
export class Conv3d extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;
  readonly stride: [number, number, number];
  readonly padding: [number, number, number];
  readonly dilation: [number, number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    opts: Conv3dOptions,
  ) {
    super();
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new UsageError(`Conv3d(${inChannels}, ${outChannels}): channels must be divisible by groups=${this.groups}`);
    }
    const [kt, kh, kw] = triple(opts.kernelSize);
    this.weight = Parameter.filled([outChannels, inChannels / this.groups, kt, kh, kw]);
    this.bias = opts.bias === false ? undefined : Parameter.filled([outChannels]);
    this.stride = triple(opts.stride ?? 1);
    this.padding = triple(opts.padding ?? 0);
    this.dilation = triple(opts.dilation ?? 1);
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

/**
 * Mirrors `torch.nn.BatchNorm3d` (same keys and math as {@link BatchNorm2d}, on [N, C, T, H, W]).
 * NOTE: in PyTorch BatchNorm3d is not a BatchNorm2d, and TSN's partial BN freezes only BatchNorm2d layers; here
 * it subclasses BatchNorm2d to share the code, so code that treats the two differently must test
 * `instanceof BatchNorm3d` first.
 */
export class BatchNorm3d extends BatchNorm2d {}
