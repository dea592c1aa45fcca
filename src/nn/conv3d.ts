import { BatchNorm2d } from './batchnorm.js';
import { type Conv3dOptions, ConvNd } from './conv.js';

/** Mirrors `torch.nn.Conv3d`; keys `weight` [out, in/groups, kt, kh, kw] and `bias` [out]. Input [N, C, T, H, W]. */
export class Conv3d extends ConvNd {
  declare readonly stride: readonly [number, number, number];
  declare readonly padding: readonly [number, number, number];
  declare readonly dilation: readonly [number, number, number];

  constructor(inChannels: number, outChannels: number, opts: Conv3dOptions) {
    super('Conv3d', 3, inChannels, outChannels, opts);
  }
}

/**
 * Mirrors `torch.nn.BatchNorm3d` (same keys and math as {@link BatchNorm2d}, on [N, C, T, H, W]).
 * NOTE: in PyTorch BatchNorm3d is not a BatchNorm2d, and TSN's partial BN freezes only BatchNorm2d layers; here
 * it subclasses BatchNorm2d to share the code, so code that treats the two differently must test
 * `instanceof BatchNorm3d` first.
 */
export class BatchNorm3d extends BatchNorm2d {}
