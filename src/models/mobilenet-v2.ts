/**
 * MobileNetV2 in the layout of TSM's `archs/mobilenet_v2.py` (adapted from tonylins/pytorch-mobilenet-v2), which
 * the released TSM MobileNetV2 checkpoints use: `features.0` is conv_bn, `features.1..17` are inverted residuals
 * with one `conv` Sequential, `features.18` is conv_1x1_bn, then `classifier`. Not torchvision's layout.
 */
import { UsageError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/index.js';
import { BatchNorm2d, Conv2d, Linear, Module, ReLU6, Sequential } from '../nn/index.js';

/** 3x3 conv (stride `stride`, padding 1, no bias) + BN + ReLU6 (the original's `conv_bn`). */
export const convBn = (inp: number, oup: number, stride: number): Sequential =>
  new Sequential(new Conv2d(inp, oup, { kernelSize: 3, stride, padding: 1, bias: false }), new BatchNorm2d(oup), new ReLU6());

/** 1x1 conv (no bias) + BN + ReLU6 (the original's `conv_1x1_bn`). */
export const conv1x1Bn = (inp: number, oup: number): Sequential =>
  new Sequential(new Conv2d(inp, oup, { kernelSize: 1, bias: false }), new BatchNorm2d(oup), new ReLU6());

/** `int(np.ceil(x / divisible_by) * divisible_by)` (the original's `make_divisible`). */
export const makeDivisible = (x: number, divisibleBy = 8): number => Math.ceil(x / divisibleBy) * divisibleBy;

/**
 * The `conv` Sequential of an inverted residual: 8 entries when `expandRatio != 1` (pw conv, bn, relu6, dw conv,
 * bn, relu6, pw-linear conv, bn), 5 otherwise (dw, bn, relu6, pw-linear, bn). Shared by the TSN and online models.
 */
export function invertedResidualConv(inp: number, oup: number, stride: number, expandRatio: number): Sequential {
  if (stride !== 1 && stride !== 2) throw UsageError.expected('InvertedResidual stride', '1 or 2', stride);
  const hidden = Math.trunc(inp * expandRatio);
  const dw = new Conv2d(hidden, hidden, { kernelSize: 3, stride, padding: 1, groups: hidden, bias: false });
  const pwLinear = new Conv2d(hidden, oup, { kernelSize: 1, bias: false });
  if (expandRatio === 1) return new Sequential(dw, new BatchNorm2d(hidden), new ReLU6(), pwLinear, new BatchNorm2d(oup));
  return new Sequential(
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

/**
 * Mirrors `archs/mobilenet_v2.py` `InvertedResidual` (and the online demo's, which is the same); keys
 * `conv.{0..7}` (`conv.{0..4}` when `expandRatio` is 1). TSM shifts blocks with 8 entries and a residual
 * connection by wrapping `conv[0]` (key `conv.0.net.weight`).
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
    this.conv = invertedResidualConv(inp, oup, stride, expandRatio);
    this.useResConnect = stride === 1 && inp === oup;
  }

  forward(g: GraphBuilder, x: Value): Value {
    const y = this.conv.call(g, x);
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

/** The original's `interverted_residual_setting` (shared by the online model). */
export const INVERTED_RESIDUAL_SETTING: readonly (readonly [number, number, number, number])[] = Object.freeze([
  // t, c, n, s
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
]);

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
    const lastChannel = mobileNetV2LastChannel(widthMult);
    this.features = mobileNetV2Features(widthMult, (b) => new InvertedResidual(b.inp, b.oup, b.stride, b.expandRatio));
    this.featureDim = lastChannel;
    this.classifier = new Linear(lastChannel, opts.numClasses ?? 1000);
  }

  forward(g: GraphBuilder, x: Value): Value {
    const y = this.features.call(g, x);
    // x.mean(3).mean(2): spatial mean, [N, C]
    return this.classifier.call(g, g.reduceMean(y, [2, 3], false));
  }
}

/** One inverted residual block of the layout: `features.<index>`, its channels, stride and expand ratio. */
export interface InvertedResidualSpec {
  /** Position among the blocks (0 for `features.1`). */
  readonly index: number;
  readonly inp: number;
  readonly oup: number;
  readonly stride: number;
  readonly expandRatio: number;
}

/** The blocks of the original's layout for a width multiplier (`make_divisible(c * width_mult)` when expanding). */
export function invertedResidualSpecs(widthMult: number): InvertedResidualSpec[] {
  const specs: InvertedResidualSpec[] = [];
  let inp = 32; // the original: "first channel is always 32!"
  for (const [t, c, n, s] of INVERTED_RESIDUAL_SETTING) {
    const oup = t > 1 ? makeDivisible(c * widthMult) : c;
    for (let i = 0; i < n; i++) {
      specs.push({ index: specs.length, inp, oup, stride: i === 0 ? s : 1, expandRatio: t });
      inp = oup;
    }
  }
  return specs;
}

/** Channels of the last 1x1 conv (`features.18`): 1280, widened only for multipliers above 1. */
export const mobileNetV2LastChannel = (widthMult: number): number => (widthMult > 1 ? makeDivisible(1280 * widthMult) : 1280);

/** `features`: the stem, one block per spec (built by `block`), and the last 1x1 conv. */
export function mobileNetV2Features(widthMult: number, block: (spec: InvertedResidualSpec) => Module): Sequential {
  const specs = invertedResidualSpecs(widthMult);
  const lastInp = specs[specs.length - 1].oup;
  return new Sequential(convBn(3, 32, 2), ...specs.map(block), conv1x1Bn(lastInp, mobileNetV2LastChannel(widthMult)));
}

/** Widths {@link inferMobileNetV2WidthMult} tries first, so a checkpoint reports the multiplier it was built with. */
const COMMON_WIDTH_MULTS = [1, 0.5, 0.75, 0.35, 0.25, 1.4, 1.3] as const;

/**
 * Output channels of `features.1` … `features.17` and then `features.18` (the last 1x1 conv) for a width
 * multiplier, as the original computes them (`make_divisible(c * width_mult)` for expanding blocks only).
 * @example mobileNetV2Channels(0.5).at(-1) // 1280: the last conv only widens for multipliers above 1
 */
export function mobileNetV2Channels(widthMult: number): number[] {
  return [...invertedResidualSpecs(widthMult).map((b) => b.oup), mobileNetV2LastChannel(widthMult)];
}

/**
 * The width multiplier a MobileNetV2 state dict was built with, read from the output channels of every block
 * (`features.N.conv.7.weight`, `features.18.1.weight`); undefined when no multiplier fits.
 * NOTE: multipliers that round to the same channels build the same network; common values (1, 0.5, 0.75, ...)
 * win, then the smallest multiple of 0.05.
 * @param shapeOf the shape of a key, or undefined when absent
 * @param prefix key prefix: `base_model.` for TSN checkpoints, '' for the online layout
 * @example inferMobileNetV2WidthMult((k) => sd.get(k)?.shape, 'base_model.') // 0.5
 */
export function inferMobileNetV2WidthMult(shapeOf: (key: string) => readonly number[] | undefined, prefix = ''): number | undefined {
  const seen: (number | undefined)[] = [];
  for (let i = 1; i <= 17; i++) seen.push(shapeOf(`${prefix}features.${i}.conv.${i === 1 ? 4 : 7}.weight`)?.[0]);
  seen.push(shapeOf(`${prefix}features.18.1.weight`)?.[0]);
  if (seen.every((c) => c === undefined)) return undefined;
  const fits = (w: number) => mobileNetV2Channels(w).every((c, i) => seen[i] === undefined || seen[i] === c);
  const grid = Array.from({ length: 60 }, (_, i) => Math.round((i + 1) * 5) / 100);
  return [...COMMON_WIDTH_MULTS, ...grid].find(fits);
}

/** The original's `mobilenet_v2()` (width 1.0) without the pretrained download. */
export const mobilenetV2 = (opts: MobileNetV2Options = {}): MobileNetV2 => new MobileNetV2(opts);
