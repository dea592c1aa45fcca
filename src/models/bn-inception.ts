/**
 * BN-Inception as TSM's `archs/bn_inception.py` (the Caffe-converted model TSN uses), with the temporal shift the
 * original injects through `build_temporal_ops`.
 *
 * Keys are flat, as the original: `conv1_7x7_s2.{weight,bias}`, `conv1_7x7_s2_bn.{weight,bias,running_mean,...}`,
 * `conv2_3x3_reduce`, `conv2_3x3`, then per inception block `inception_3a_1x1`, `inception_3a_3x3_reduce`,
 * `inception_3a_3x3`, `inception_3a_double_3x3_reduce`, `inception_3a_double_3x3_1`, `inception_3a_double_3x3_2`,
 * `inception_3a_pool_proj` (each conv followed by its `_bn`), ..., and `fc`. Every conv has a bias; every BN is
 * `BatchNorm2d(c, eps=1e-05, momentum=0.9, affine=True)`; every pool uses `ceil_mode=True`.
 *
 * Input convention (TSN `ops/models.py` and `main.py` for `--arch BNInception`): 224×224, BGR channel order
 * (`Stack(roll=True)`), values 0-255 (`ToTorchFormatTensor(div=False)`), minus mean `[104, 117, 128]`, std `[1]`
 * (Flow: mean `[128]`). See {@link BN_INCEPTION_INPUT}.
 *
 * Temporal shift (for TSN's `is_shift`): call {@link shiftBNInception}`(model, nSegment, shiftDiv, place)` (the
 * original's `base_model.build_temporal_ops(num_segments, is_temporal_shift=shift_place, shift_div)`). It adds no
 * parameters and changes no keys: the shift runs on the input of each of the 12 stages (`_block_1`, `_block_2`,
 * `_block_3a` ... `_block_5b`) whose mask bit is 1; the first stage (the image) never shifts.
 */
import { ShapeError, UsageError } from '../errors.js';
import { type GraphBuilder, type Value, shapeToString } from '../graph/index.js';
import { AvgPool, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool, Module, ReLU } from '../nn/index.js';
import { positiveInt } from '../util/check.js';
import { TemporalShift } from './temporal-shift.js';

/** TSN's input settings for BN-Inception (from `pretrained_settings` and `ops/models.py`). */
export const BN_INCEPTION_INPUT = Object.freeze({
  inputSize: 224,
  /** Subtracted from 0-255 BGR values. */
  inputMean: Object.freeze([104, 117, 128]),
  inputStd: Object.freeze([1]),
  /** Flow modality mean (`self.input_mean = [128]`). */
  flowMean: Object.freeze([128]),
  /** `Stack(roll=True)` reverses RGB to BGR. */
  channelOrder: 'BGR',
  /** `ToTorchFormatTensor(div=False)`: pixel values stay 0-255. */
  inputRange: Object.freeze([0, 255]),
} as const);

/** One inception block: output channels of each branch; 0 means the branch is absent. */
interface InceptionSpec {
  readonly name: string;
  readonly inChannels: number;
  readonly c1x1: number;
  readonly c3x3Reduce: number;
  readonly c3x3: number;
  readonly cDoubleReduce: number;
  readonly cDouble: number;
  /** `avg`: AvgPool 3/1/pad 1; `max-s2`: MaxPool 3/2 (reduction blocks); `max-s1`: MaxPool 3/1/pad 1 (5b). */
  readonly pool: 'avg' | 'max-s2' | 'max-s1';
  /** Channels of the 1x1 conv after the pool; 0: the pool output is concatenated as is. */
  readonly poolProj: number;
}

const row = (
  name: string,
  inChannels: number,
  c1x1: number,
  c3x3Reduce: number,
  c3x3: number,
  cDoubleReduce: number,
  cDouble: number,
  pool: InceptionSpec['pool'],
  poolProj: number,
): InceptionSpec => ({ name, inChannels, c1x1, c3x3Reduce, c3x3, cDoubleReduce, cDouble, pool, poolProj });

/** The ten inception blocks; columns: name, in, 1x1, 3x3 reduce, 3x3, double reduce, double 3x3, pool, pool proj. */
export const INCEPTION_BLOCKS: readonly InceptionSpec[] = Object.freeze([
  row('3a', 192, 64, 64, 64, 64, 96, 'avg', 32), // -> 256
  row('3b', 256, 64, 64, 96, 64, 96, 'avg', 64), // -> 320
  row('3c', 320, 0, 128, 160, 64, 96, 'max-s2', 0), // -> 576, stride 2
  row('4a', 576, 224, 64, 96, 96, 128, 'avg', 128), // -> 576
  row('4b', 576, 192, 96, 128, 96, 128, 'avg', 128), // -> 576
  row('4c', 576, 160, 128, 160, 128, 160, 'avg', 128), // -> 608
  row('4d', 608, 96, 128, 192, 160, 192, 'avg', 128), // -> 608
  row('4e', 608, 0, 128, 192, 192, 256, 'max-s2', 0), // -> 1056, stride 2
  row('5a', 1056, 352, 192, 320, 160, 224, 'avg', 128), // -> 1024
  row('5b', 1024, 352, 192, 320, 192, 224, 'max-s1', 128), // -> 1024
]);

/** Output channels of an inception block (the concat of its branches). */
export const inceptionOutChannels = (s: InceptionSpec): number => s.c1x1 + s.c3x3 + s.cDouble + (s.poolProj || s.inChannels);

/** The original's BatchNorm: `nn.BatchNorm2d(c, eps=1e-05, momentum=0.9, affine=True)`. */
const bn = (c: number): BatchNorm2d => new BatchNorm2d(c, 1e-5, 0.9);

/** Conv with bias, square kernel, as the original's `nn.Conv2d(in, out, kernel_size=(k, k), stride, padding)`. */
const conv = (inC: number, outC: number, k: number, stride = 1, padding = 0): Conv2d => new Conv2d(inC, outC, { kernelSize: k, stride, padding });

/** `nn.MaxPool2d((3, 3), stride=(s, s), padding=(p, p), ceil_mode=True)`. */
const maxPool3 = (stride: number, padding = 0): MaxPool => new MaxPool({ kernelSize: 3, stride, padding, ceilMode: true });

/** `nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True, count_include_pad=True)`. */
const avgPool3 = (): AvgPool => new AvgPool({ kernelSize: 3, stride: 1, padding: 1, ceilMode: true, countIncludePad: true });

/** Options of {@link BNInception}. */
export interface BNInceptionOptions {
  /** Outputs of `fc`. @default 1000 */
  readonly numClasses?: number;
}

/**
 * Mirrors TSM `archs/bn_inception.py` `BNInception` (keys as the file doc lists, `fc` last).
 * NOTE: the original's ReLUs are in place, so the "_bn_out" tensors it passes on and concatenates are already
 * rectified: every conv here is conv → BN → ReLU, and the pools see rectified values.
 * @example
 * const net = new BNInception({ numClasses: 400 }).nameParameters();
 * net.loadStateDict(stateDict);
 * const logits = net.forward(g, g.input('x', 'float32', [1, 3, 224, 224]));
 */
export class BNInception extends Module {
  /** Width of the features `fc` reads (`fc.in_features`). */
  readonly featureDim = 1024;
  /** The layer TSN replaces (`base_model.last_layer_name`). */
  readonly lastLayerName = 'fc';
  /** Segments per clip, set by {@link BNInception.buildTemporalOps}. */
  nSegment = 1;
  /** One character per stage, '1' = shift that stage's input; all '0' until {@link BNInception.buildTemporalOps}. */
  isTemporalShift = '0'.repeat(12);
  /** Shifted channels are `c // foldDiv` each way. */
  foldDiv = 8;

  declare readonly conv1_7x7_s2: Conv2d;
  declare readonly conv1_7x7_s2_bn: BatchNorm2d;
  declare readonly pool1_3x3_s2: MaxPool;
  declare readonly conv2_3x3_reduce: Conv2d;
  declare readonly conv2_3x3: Conv2d;
  declare readonly pool2_3x3_s2: MaxPool;
  declare readonly global_pool: AvgPool;
  /** The classifier; TSN swaps it for a `Dropout` (its `setattr(base_model, 'fc', nn.Dropout(p))`). */
  declare fc: Linear | Dropout;

  constructor(opts: BNInceptionOptions = {}) {
    super();
    const numClasses = opts.numClasses ?? 1000;
    positiveInt('numClasses', numClasses);
    // Registration order is the original _build_features order, so stateDict() lists keys as PyTorch does.
    this.addConvBn('conv1_7x7_s2', 'conv1_relu_7x7', conv(3, 64, 7, 2, 3));
    this.add('pool1_3x3_s2', maxPool3(2));
    this.addConvBn('conv2_3x3_reduce', 'conv2_relu_3x3_reduce', conv(64, 64, 1));
    this.addConvBn('conv2_3x3', 'conv2_relu_3x3', conv(64, 192, 3, 1, 1));
    this.add('pool2_3x3_s2', maxPool3(2));
    for (const s of INCEPTION_BLOCKS) this.addInception(s);
    this.add('global_pool', new AvgPool({ kernelSize: 7, stride: 1, padding: 0, ceilMode: true, countIncludePad: true }));
    this.add('fc', new Linear(1024, numClasses));
  }

  /**
   * The original's `build_temporal_ops(n_segment, is_temporal_shift, shift_div)`: `'block'` shifts the input of
   * every stage but the first; a 12-character '0'/'1' string picks stages (its first bit is forced to 0).
   * @throws {UsageError} for `'blockres'`: the residual form `relu(x + block(shift(x)))` needs blocks that keep
   *   their shape, and the original applies it to every stage, so it fails there too (64 vs 192 channels at
   *   `_block_2`); use `'block'`
   */
  buildTemporalOps(nSegment: number, isTemporalShift = '0'.repeat(12), shiftDiv = 8): this {
    positiveInt('n_segment', nSegment);
    positiveInt('shift_div', shiftDiv);
    const mask = isTemporalShift === 'block' || isTemporalShift === 'blockres' ? '1'.repeat(12) : isTemporalShift;
    if (!/^[01]{12}$/.test(mask)) {
      throw UsageError.expected('BNInception shift place', "'block', 'blockres' or 12 characters of 0/1", isTemporalShift);
    }
    if (isTemporalShift.includes('res')) {
      throw new UsageError(
        `BNInception shift place '${isTemporalShift}' is residual (relu(x + block(shift(x)))), which needs every shifted stage to keep its shape; _block_2 maps 64 to 192 channels, so the original fails as well. Use shift place 'block'.`,
      );
    }
    this.nSegment = nSegment;
    this.isTemporalShift = `0${mask.slice(1)}`; // image input does not shift
    this.foldDiv = shiftDiv;
    return this;
  }

  forward(g: GraphBuilder, x: Value): Value {
    return this.logits(g, this.features(g, x));
  }

  /** The original's `features`: the 12 stages, each wrapped by the shift where the mask says so. */
  features(g: GraphBuilder, x: Value): Value {
    let y = g.scope('block_1', () => this.temporalWrap(g, 0, x, (v) => this.block1(g, v)));
    y = g.scope('block_2', () => this.temporalWrap(g, 1, y, (v) => this.block2(g, v)));
    INCEPTION_BLOCKS.forEach((s, i) => {
      y = g.scope(`block_${s.name}`, () => this.temporalWrap(g, i + 2, y, (v) => this.inception(g, s, v)));
    });
    return y;
  }

  /** The original's `logits`: `global_pool` (AvgPool2d(7)), `view(N, -1)`, `fc`. */
  logits(g: GraphBuilder, features: Value): Value {
    const [, , h, w] = features.shape;
    // NOTE: global_pool is a fixed AvgPool2d(7), not adaptive, so only a 7x7 map (224x224 input) yields the 1024
    // features fc expects, as in the original.
    if (h !== 7 || w !== 7) {
      throw new ShapeError(
        `BNInception: the last feature map is ${shapeToString(features.shape)}, but global_pool is AvgPool2d(7) as in archs/bn_inception.py, so it must be 7x7 (input 224x224)`,
      );
    }
    const pooled = this.global_pool.call(g, features);
    // NOTE: the Flatten is named under fc (`fc/Flatten`), as exported models have always named it.
    return this.fc.scoped(g, () => this.fc.forward(g, g.flatten(pooled, 1)));
  }

  private temporalWrap(g: GraphBuilder, index: number, x: Value, layer: (v: Value) => Value): Value {
    if (this.isTemporalShift[index] !== '1') return layer(x);
    const shifted = g.scope('shift', () => TemporalShift.shift(g, x, this.nSegment, this.foldDiv));
    return layer(shifted);
  }

  private block1(g: GraphBuilder, x: Value): Value {
    return this.run(g, 'pool1_3x3_s2', this.convBnRelu(g, 'conv1_7x7_s2', x));
  }

  private block2(g: GraphBuilder, x: Value): Value {
    const y = this.convBnRelu(g, 'conv2_3x3', this.convBnRelu(g, 'conv2_3x3_reduce', x));
    return this.run(g, 'pool2_3x3_s2', y);
  }

  private inception(g: GraphBuilder, s: InceptionSpec, x: Value): Value {
    const p = `inception_${s.name}`;
    const branches: Value[] = [];
    if (s.c1x1) branches.push(this.convBnRelu(g, `${p}_1x1`, x));
    branches.push(this.convBnRelu(g, `${p}_3x3`, this.convBnRelu(g, `${p}_3x3_reduce`, x)));
    const d = this.convBnRelu(g, `${p}_double_3x3_reduce`, x);
    branches.push(this.convBnRelu(g, `${p}_double_3x3_2`, this.convBnRelu(g, `${p}_double_3x3_1`, d)));
    const pooled = this.run(g, `${p}_pool`, x);
    branches.push(s.poolProj ? this.convBnRelu(g, `${p}_pool_proj`, pooled) : pooled);
    return g.concat(branches, 1);
  }

  private convBnRelu(g: GraphBuilder, name: string, x: Value): Value {
    return g.relu(this.run(g, `${name}_bn`, this.run(g, name, x)));
  }

  private run(g: GraphBuilder, name: string, x: Value): Value {
    return this.child(name).call(g, x);
  }

  private child(name: string): Module {
    const m = (this as unknown as Record<string, unknown>)[name];
    if (!(m instanceof Module)) throw new UsageError(`BNInception has no layer "${name}"`);
    return m;
  }

  private add(name: string, m: Module): void {
    (this as unknown as Record<string, Module>)[name] = m;
  }

  /** Registers `name`, `name_bn` and the ReLU `reluName`, in the original's order. */
  private addConvBn(name: string, reluName: string, c: Conv2d): void {
    this.add(name, c);
    this.add(`${name}_bn`, bn(c.outChannels));
    this.add(reluName, new ReLU());
  }

  /** Registers one inception block's layers in the original's order. */
  private addInception(s: InceptionSpec): void {
    const p = `inception_${s.name}`;
    const stride = s.pool === 'max-s2' ? 2 : 1; // reduction blocks stride their 3x3 convs and their pool
    if (s.c1x1) this.addConvBn(`${p}_1x1`, `${p}_relu_1x1`, conv(s.inChannels, s.c1x1, 1));
    this.addConvBn(`${p}_3x3_reduce`, `${p}_relu_3x3_reduce`, conv(s.inChannels, s.c3x3Reduce, 1));
    this.addConvBn(`${p}_3x3`, `${p}_relu_3x3`, conv(s.c3x3Reduce, s.c3x3, 3, stride, 1));
    this.addConvBn(`${p}_double_3x3_reduce`, `${p}_relu_double_3x3_reduce`, conv(s.inChannels, s.cDoubleReduce, 1));
    this.addConvBn(`${p}_double_3x3_1`, `${p}_relu_double_3x3_1`, conv(s.cDoubleReduce, s.cDouble, 3, 1, 1));
    this.addConvBn(`${p}_double_3x3_2`, `${p}_relu_double_3x3_2`, conv(s.cDouble, s.cDouble, 3, stride, 1));
    this.add(`${p}_pool`, s.pool === 'avg' ? avgPool3() : s.pool === 'max-s2' ? maxPool3(2) : maxPool3(1, 1));
    if (s.poolProj) this.addConvBn(`${p}_pool_proj`, `${p}_relu_pool_proj`, conv(s.inChannels, s.poolProj, 1));
  }
}

/** Shift places BN-Inception accepts: TSN's `shift_place`, or a 12-character stage mask such as `'011111111111'`. */
export type BNInceptionShiftPlace = 'block' | 'blockres' | string;

/**
 * Adds the temporal shift to a BN-Inception, as TSN's `_prepare_base_model` does for `BNInception` with
 * `is_shift` (`base_model.build_temporal_ops(num_segments, is_temporal_shift=shift_place, shift_div)`).
 * Keys do not change (the shift has no parameters and wraps no layer).
 * @param place `'block'` (every stage but the first), or a 12-character '0'/'1' stage mask. @default 'block'
 * @returns the same model
 * @throws {UsageError} for `'blockres'` (see {@link BNInception.buildTemporalOps}) or a malformed mask
 * @example
 * shiftBNInception(net, 8, 8, 'block');
 */
export function shiftBNInception(model: BNInception, nSegment: number, shiftDiv = 8, place: BNInceptionShiftPlace = 'block'): BNInception {
  return model.buildTemporalOps(nSegment, place, shiftDiv);
}
