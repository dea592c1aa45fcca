/**
 * ResNet-18/34/50/101/152 in torchvision's layout (`torchvision/models/resnet.py`, v1.5: stride on the 3x3), the
 * backbone TSM shifts. Fields are the state-dict keys: `conv1`, `bn1`, `layer1.0.conv1`, ..., `fc`.
 */
import { UsageError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/index.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool, Module, ReLU, Sequential } from '../nn/index.js';

/** 3x3 convolution with padding, no bias (torchvision's `conv3x3`). */
export const conv3x3 = (inPlanes: number, outPlanes: number, stride = 1): Conv2d =>
  new Conv2d(inPlanes, outPlanes, { kernelSize: 3, stride, padding: 1, bias: false });

/** 1x1 convolution without bias (torchvision's `conv1x1`). */
export const conv1x1 = (inPlanes: number, outPlanes: number, stride = 1): Conv2d =>
  new Conv2d(inPlanes, outPlanes, { kernelSize: 1, stride, bias: false });

/** Mirrors `torchvision.models.resnet.BasicBlock`; keys `conv1`, `bn1`, `conv2`, `bn2`, `downsample.{0,1}`. */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  /** TSM "blockres" wraps this one: its key becomes `conv1.net.weight`. */
  conv1: Module;
  readonly bn1: BatchNorm2d;
  readonly relu = new ReLU();
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample?: Sequential;

  constructor(inPlanes: number, planes: number, stride = 1, downsample?: Sequential) {
    super();
    this.conv1 = conv3x3(inPlanes, planes, stride);
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = conv3x3(planes, planes);
    this.bn2 = new BatchNorm2d(planes);
    this.downsample = downsample;
  }

  /** Output channels (`bn2.num_features`). */
  get outChannels(): number {
    return this.bn2.numFeatures;
  }

  forward(g: GraphBuilder, x: Value): Value {
    let out = g.relu(this.bn1.call(g, this.conv1.call(g, x)));
    out = this.bn2.call(g, this.conv2.call(g, out));
    const identity = this.downsample ? this.downsample.call(g, x) : x;
    return g.relu(g.add(out, identity));
  }
}

/** Mirrors `torchvision.models.resnet.Bottleneck` (v1.5); keys `conv1`…`bn3`, `downsample.{0,1}`. */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  /** TSM "blockres" wraps this one: its key becomes `conv1.net.weight`. */
  conv1: Module;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu = new ReLU();
  readonly downsample?: Sequential;

  constructor(inPlanes: number, planes: number, stride = 1, downsample?: Sequential) {
    super();
    const outPlanes = planes * Bottleneck.expansion;
    this.conv1 = conv1x1(inPlanes, planes);
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = conv3x3(planes, planes, stride); // stride on the 3x3, as torchvision does
    this.bn2 = new BatchNorm2d(planes);
    this.conv3 = conv1x1(planes, outPlanes);
    this.bn3 = new BatchNorm2d(outPlanes);
    this.downsample = downsample;
  }

  /** Output channels (`bn3.num_features`; the non-local block sizes itself from it). */
  get outChannels(): number {
    return this.bn3.numFeatures;
  }

  forward(g: GraphBuilder, x: Value): Value {
    let out = g.relu(this.bn1.call(g, this.conv1.call(g, x)));
    out = g.relu(this.bn2.call(g, this.conv2.call(g, out)));
    out = this.bn3.call(g, this.conv3.call(g, out));
    const identity = this.downsample ? this.downsample.call(g, x) : x;
    return g.relu(g.add(out, identity));
  }
}

/** A residual block class: {@link BasicBlock} or {@link Bottleneck}. */
export type BlockType = typeof BasicBlock | typeof Bottleneck;

/** Every ResNet depth: block type and blocks per stage, as torchvision's `_resnet(...)` calls. */
export const RESNET_ARCHS = Object.freeze({
  resnet18: { block: BasicBlock, layers: [2, 2, 2, 2] },
  resnet34: { block: BasicBlock, layers: [3, 4, 6, 3] },
  resnet50: { block: Bottleneck, layers: [3, 4, 6, 3] },
  resnet101: { block: Bottleneck, layers: [3, 4, 23, 3] },
  resnet152: { block: Bottleneck, layers: [3, 8, 36, 3] },
} as const);
/** One of {@link RESNET_ARCHS}. */
export type ResNetArch = keyof typeof RESNET_ARCHS;

/** True when `arch` names a ResNet of {@link Bottleneck} blocks (50/101/152), the ones non-local blocks can wrap. */
export const isBottleneckResNet = (arch: string): boolean => Object.hasOwn(RESNET_ARCHS, arch) && RESNET_ARCHS[arch as ResNetArch].block === Bottleneck;

/** Options of {@link ResNet} and the `resnetNN()` factories. */
export interface ResNetOptions {
  /** Classes of `fc`. @default 1000 */
  readonly numClasses?: number;
}

/**
 * Mirrors `torchvision.models.resnet.ResNet`: conv1 (7x7/2) → bn1 → relu → maxpool (3x3/2) → layer1..4 →
 * global average pool → flatten → fc. Keys `conv1.weight`, `bn1.*`, `layerS.B.*`, `fc.{weight,bias}`.
 */
export class ResNet extends Module {
  /** Replaced by a `2·new_length`-channel conv for Flow input. */
  conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu = new ReLU();
  readonly maxpool = new MaxPool({ kernelSize: 3, stride: 2, padding: 1 });
  /** Stages are `Sequential`s of blocks; TSM wraps their blocks (or the stage) in place. */
  layer1: Module;
  layer2: Module;
  layer3: Module;
  layer4: Module;
  readonly avgpool = new AdaptiveAvgPool2d();
  /** The classifier; TSN replaces it with `Dropout` (then adds `new_fc`) or a new `Linear`. */
  fc: Module;
  /** Width of the pooled feature (`fc.in_features`): 512 × expansion. */
  readonly featureDim: number;
  readonly lastLayerName = 'fc';
  private inplanes = 64;

  constructor(
    readonly block: BlockType,
    readonly layers: readonly [number, number, number, number] | readonly number[],
    opts: ResNetOptions = {},
  ) {
    super();
    if (layers.length !== 4 || layers.some((n) => !Number.isInteger(n) || n < 1)) {
      throw UsageError.expected('ResNet layers', 'four positive block counts', layers);
    }
    this.conv1 = new Conv2d(3, 64, { kernelSize: 7, stride: 2, padding: 3, bias: false });
    this.bn1 = new BatchNorm2d(64);
    this.layer1 = this.makeLayer(64, layers[0]);
    this.layer2 = this.makeLayer(128, layers[1], 2);
    this.layer3 = this.makeLayer(256, layers[2], 2);
    this.layer4 = this.makeLayer(512, layers[3], 2);
    this.featureDim = 512 * block.expansion;
    this.fc = new Linear(this.featureDim, opts.numClasses ?? 1000);
  }

  /** torchvision's `_make_layer`: the first block strides and projects the shortcut when the shape changes. */
  private makeLayer(planes: number, blocks: number, stride = 1): Sequential {
    const Block = this.block;
    const outPlanes = planes * Block.expansion;
    const downsample =
      stride !== 1 || this.inplanes !== outPlanes ? new Sequential(conv1x1(this.inplanes, outPlanes, stride), new BatchNorm2d(outPlanes)) : undefined;
    const list: Module[] = [new Block(this.inplanes, planes, stride, downsample)];
    this.inplanes = outPlanes;
    for (let i = 1; i < blocks; i++) list.push(new Block(this.inplanes, planes));
    return new Sequential(...list);
  }

  forward(g: GraphBuilder, x: Value): Value {
    let y = g.relu(this.bn1.call(g, this.conv1.call(g, x)));
    y = this.maxpool.call(g, y);
    y = this.layer1.call(g, y);
    y = this.layer2.call(g, y);
    y = this.layer3.call(g, y);
    y = this.layer4.call(g, y);
    y = g.flatten(this.avgpool.call(g, y), 1);
    return this.fc.call(g, y);
  }
}

/** A ResNet of a named depth. @throws {UsageError} for an unknown name, listing the valid ones */
export function resnet(arch: ResNetArch, opts: ResNetOptions = {}): ResNet {
  const spec = RESNET_ARCHS[arch] as (typeof RESNET_ARCHS)[ResNetArch] | undefined;
  if (!spec) throw UsageError.unsupported('ResNet', arch, Object.keys(RESNET_ARCHS));
  return new ResNet(spec.block, spec.layers, opts);
}

/** ResNet-18 (BasicBlock, [2, 2, 2, 2]). */
export const resnet18 = (opts: ResNetOptions = {}): ResNet => resnet('resnet18', opts);
/** ResNet-34 (BasicBlock, [3, 4, 6, 3]). */
export const resnet34 = (opts: ResNetOptions = {}): ResNet => resnet('resnet34', opts);
/** ResNet-50 (Bottleneck, [3, 4, 6, 3]). */
export const resnet50 = (opts: ResNetOptions = {}): ResNet => resnet('resnet50', opts);
/** ResNet-101 (Bottleneck, [3, 4, 23, 3]). */
export const resnet101 = (opts: ResNetOptions = {}): ResNet => resnet('resnet101', opts);
/** ResNet-152 (Bottleneck, [3, 8, 36, 3]). */
export const resnet152 = (opts: ResNetOptions = {}): ResNet => resnet('resnet152', opts);
