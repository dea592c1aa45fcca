/**
 * MobileNetV2 in the layout of TSM's `archs/mobilenet_v2.py` (adapted from tonylins/pytorch-mobilenet-v2), which
 * the released TSM MobileNetV2 checkpoints use: `features.0` is conv_bn, `features.1..17` are inverted residuals
 * with one `conv` Sequential, `features.18` is conv_1x1_bn, then `classifier`. Not torchvision's layout.
 */
import { UsageError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/index.js';
import { BatchNorm2d, Conv2d, Linear, Module, ReLU6, Sequential } from '../nn/index.js';
import { call } from './resnet.js';

/** 3x3 conv (stride `stride`, padding 1, no bias) + BN + ReLU6 (the original's `conv_bn`). */
export const convBn = (inp: number, oup: number, stride: number): Sequential =>
  new Sequential(new Conv2d(inp, oup, { kernelSize: 3, stride, padding: 1, bias: false }), new BatchNorm2d(oup), new ReLU6());

/** 1x1 conv (no bias) + BN + ReLU6 (the original's `conv_1x1_bn`). */
export const conv1x1Bn = (inp: number, oup: number): Sequential =>
  new Sequential(new Conv2d(inp, oup, { kernelSize: 1, bias: false }), new BatchNorm2d(oup), new ReLU6());

/** `int(np.ceil(x / divisible_by) * divisible_by)` (the original's `make_divisible`). */
export const makeDivisible = (x: number, divisibleBy = 8): number => Math.ceil(x / divisibleBy) * divisibleBy;

/**
 * Mirrors `archs/mobilenet_v2.py` `InvertedResidual`. `conv` has 8 entries when `expandRatio != 1` (pw conv, bn,
 * relu6, dw conv, bn, relu6, pw-linear conv, bn) and 5 otherwise (dw, bn, relu6, pw-linear, bn). TSM shifts
 * blocks with 8 entries and a residual connection by wrapping `conv[0]` (key `conv.0.net.weight`).
 */
export class InvertedResidual extends Module {
  readonly conv: Sequential;
  readonly useResConnect: boolean;

  constructor(
    readonly inp: number,
    readonly oup: number,
    readonly stride: number,
    readonly expandRatio: number,
  ) {
    super();
    if (stride !== 1 && stride !== 2) throw UsageError.expected('InvertedResidual stride', '1 or 2', stride);
    const hidden = Math.trunc(inp * expandRatio);
    this.useResConnect = stride === 1 && inp === oup;
    const dw = new Conv2d(hidden, hidden, { kernelSize: 3, stride, padding: 1, groups: hidden, bias: false });
    const pwLinear = new Conv2d(hidden, oup, { kernelSize: 1, bias: false });
    this.conv =
      expandRatio === 1
        ? new Sequential(dw, new BatchNorm2d(hidden), new ReLU6(), pwLinear, new BatchNorm2d(oup))
        : new Sequential(
            new Conv2d(inp, hidden, { kernelSize: 1, bias: false }), // pw
            new BatchNorm2d(hidden),
            new ReLU6(),
            dw,
            new BatchNorm2d(hidden),
            new ReLU6(),
            pwLinear,
            new BatchNorm2d(oup),
          );
  }

  forward(g: GraphBuilder, x: Value): Value {
    const y = call(g, 'conv', this.conv, x);
    return this.useResConnect ? g.add(x, y) : y;
  }
}

/** Options of {@link MobileNetV2}. */
export interface MobileNetV2Options {
  /** Classes of `classifier`. @default 1000 */
  readonly numClasses?: number;
  /** Input size; must be a multiple of 32, as the original asserts. @default 224 */
  readonly inputSize?: number;
  /** Channel multiplier. @default 1 */
  readonly widthMult?: number;
}

/** The original's `interverted_residual_setting`. */
const INVERTED_RESIDUAL_SETTING: readonly (readonly [number, number, number, number])[] = [
  // t, c, n, s
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/**
 * Mirrors `archs/mobilenet_v2.py` `MobileNetV2`: features → mean over H, W → classifier.
 * Keys `features.0.{0,1}.*`, `features.N.conv.M.*`, `features.18.{0,1}.*`, `classifier.{weight,bias}`.
 */
export class MobileNetV2 extends Module {
  readonly features: Sequential;
  /** The classifier; TSN replaces it with `Dropout` (then adds `new_fc`) or a new `Linear`. */
  classifier: Module;
  /** Width of the pooled feature (`classifier.in_features`). */
  readonly featureDim: number;
  readonly lastLayerName = 'classifier';

  constructor(opts: MobileNetV2Options = {}) {
    super();
    const inputSize = opts.inputSize ?? 224;
    const widthMult = opts.widthMult ?? 1;
    if (inputSize % 32 !== 0) throw UsageError.expected('MobileNetV2 inputSize', 'a multiple of 32', inputSize);
    let inputChannel = 32; // first channel is always 32, as the original
    const lastChannel = widthMult > 1 ? makeDivisible(1280 * widthMult) : 1280;
    const features: Module[] = [convBn(3, inputChannel, 2)];
    for (const [t, c, n, s] of INVERTED_RESIDUAL_SETTING) {
      const outputChannel = t > 1 ? makeDivisible(c * widthMult) : c;
      for (let i = 0; i < n; i++) {
        features.push(new InvertedResidual(inputChannel, outputChannel, i === 0 ? s : 1, t));
        inputChannel = outputChannel;
      }
    }
    features.push(conv1x1Bn(inputChannel, lastChannel));
    this.features = new Sequential(...features);
    this.featureDim = lastChannel;
    this.classifier = new Linear(lastChannel, opts.numClasses ?? 1000);
  }

  forward(g: GraphBuilder, x: Value): Value {
    const y = call(g, 'features', this.features, x);
    // x.mean(3).mean(2): spatial mean, [N, C]
    return call(g, 'classifier', this.classifier, g.reduceMean(y, [2, 3], false));
  }
}

/** The original's `mobilenet_v2()` (width 1.0) without the pretrained download. */
export const mobilenetV2 = (opts: MobileNetV2Options = {}): MobileNetV2 => new MobileNetV2(opts);
