/**
 * TSN with temporal shift, mirroring TSM's `ops/models.py` `TSN`: a 2-D backbone run on every segment, optional
 * temporal shift / temporal pooling / non-local blocks inside it, a new classifier, and a segment consensus.
 */
import { ShapeError, UsageError } from '../errors.js';
import { oneOf, positiveInt } from '../util/check.js';
import { type Graph, GraphBuilder, type Value, isStatic, shapeToString, sym } from '../graph/index.js';
import { Conv2d, Dropout, Linear, Module } from '../nn/index.js';
import { BNInception, shiftBNInception } from './bn-inception.js';
import { ARCHS, type Arch, type ArchInfo, type Modality, MODALITIES, channelsPerFrame, defaultNewLength, parseArch } from './config.js';
import { CONSENSUS_TYPES, ConsensusModule, type ConsensusType } from './consensus.js';
import { InvertedResidual, MobileNetV2 } from './mobilenet-v2.js';
import { makeNonLocal } from './non-local.js';
import { ResNet, isBottleneckResNet, resnet } from './resnet.js';
import { SHIFT_MODES, SHIFT_PLACES, type ShiftMode, type ShiftPlace, TemporalShift, makeTemporalPool, makeTemporalShift } from './temporal-shift.js';

/** Options of {@link TSN}, named as the original constructor's arguments (camelCase). */
export interface TsnOptions {
  /** Classes of the new classifier. */
  readonly numClass: number;
  /** Segments (frames) per clip, T. */
  readonly numSegments: number;
  /** @default 'RGB' */
  readonly modality?: Modality;
  /** Backbone (`base_model`). @default 'resnet101' (the original's default) */
  readonly baseModel?: Arch | string;
  /** Frames stacked per segment. @default 1 for RGB, 5 for Flow */
  readonly newLength?: number;
  /** @default 'avg' */
  readonly consensusType?: ConsensusType;
  /** Fuse raw scores (true) or softmax scores (false; needs `avg`). @default true */
  readonly beforeSoftmax?: boolean;
  /** Dropout before the classifier; > 0 adds `new_fc`, 0 replaces the backbone's last layer. @default 0.8 */
  readonly dropout?: number;
  /** Recorded only (used by TRN consensus in the original). @default 256 */
  readonly imgFeatureDim?: number;
  /** Recorded only. @default 1 */
  readonly cropNum?: number;
  /** Freeze all BatchNorm but the first in training (used by training code). @default true */
  readonly partialBn?: boolean;
  /** Insert temporal shift. @default false */
  readonly isShift?: boolean;
  /** Shift 1/shiftDiv of the channels each way. @default 8 */
  readonly shiftDiv?: number;
  /** @default 'blockres' */
  readonly shiftPlace?: ShiftPlace;
  /**
   * `online`: a uni-directional shift (only from past frames; see {@link SHIFT_MODES}), our addition for training
   * models that run frame by frame. A MobileNetV2 trained so exports to the online step model unchanged
   * (`toOnlineStateDict`). ResNet and MobileNetV2 only; not with temporal pooling or non-local blocks, which look
   * at future frames. @default 'bidirectional'
   */
  readonly shiftMode?: ShiftMode;
  /** Learning-rate policy flag of the original, recorded for training. @default false */
  readonly fcLr5?: boolean;
  /** Max-pool time by 2 before layer2 (ResNet with shift only). @default false */
  readonly temporalPool?: boolean;
  /** Non-local blocks in layer2/layer3 (Bottleneck ResNets). @default false */
  readonly nonLocal?: boolean;
  /** Channel multiplier of a MobileNetV2 backbone (`width_mult`; our addition, the original always uses 1). @default 1 */
  readonly widthMult?: number;
}

/** {@link TsnOptions} with every default applied. */
export type TsnConfig = Required<Omit<TsnOptions, 'baseModel'>> & { readonly baseModel: Arch };

/** A backbone as TSN uses it: a module with a replaceable last layer of known input width. */
export type Backbone = ResNet | MobileNetV2 | BNInception;

/** Applies the original's defaults and checks every option. @throws {UsageError} naming the bad option */
export function resolveTsnOptions(o: TsnOptions): TsnConfig {
  const modality = oneOf('modality', o.modality ?? 'RGB', MODALITIES);
  const consensusType = oneOf('consensus type', o.consensusType ?? 'avg', CONSENSUS_TYPES);
  const shiftPlace = oneOf('shift place', o.shiftPlace ?? 'blockres', SHIFT_PLACES);
  const shiftMode = oneOf('shift mode', o.shiftMode ?? 'bidirectional', SHIFT_MODES);
  const dropout = o.dropout ?? 0.8;
  if (!(dropout >= 0 && dropout < 1)) throw UsageError.expected('dropout', 'a probability in [0, 1)', dropout);
  const cfg: TsnConfig = {
    numClass: positiveInt('num_class', o.numClass),
    numSegments: positiveInt('num_segments', o.numSegments),
    modality,
    baseModel: parseArch(o.baseModel ?? 'resnet101'),
    newLength: positiveInt('new_length', o.newLength ?? defaultNewLength(modality)),
    consensusType,
    beforeSoftmax: o.beforeSoftmax ?? true,
    dropout,
    imgFeatureDim: o.imgFeatureDim ?? 256,
    cropNum: o.cropNum ?? 1,
    partialBn: o.partialBn ?? true,
    isShift: o.isShift ?? false,
    shiftDiv: positiveInt('shift_div', o.shiftDiv ?? 8),
    shiftPlace,
    shiftMode,
    fcLr5: o.fcLr5 ?? false,
    temporalPool: o.temporalPool ?? false,
    nonLocal: o.nonLocal ?? false,
    widthMult: o.widthMult ?? 1,
  };
  if (!cfg.beforeSoftmax && cfg.consensusType !== 'avg') throw new UsageError('Only avg consensus can be used after Softmax (before_softmax=false needs consensus_type avg)');
  const family = ARCHS[cfg.baseModel].family;
  if (!(cfg.widthMult > 0)) throw UsageError.expected('width_mult', 'a positive number', cfg.widthMult);
  if (cfg.widthMult !== 1 && family !== 'mobilenetv2') throw new UsageError(`width_mult is implemented for MobileNetV2 only, got ${cfg.widthMult} for ${cfg.baseModel}`);
  if (cfg.temporalPool) {
    if (family !== 'resnet') throw new UsageError(`temporal_pool is implemented for ResNet backbones only (the original's make_temporal_pool raises NotImplementedError), got ${cfg.baseModel}`);
    if (!cfg.isShift) throw new UsageError('temporal_pool needs is_shift: the original TSN.forward halves the segment count only for shift models');
    if (cfg.numSegments % 2 !== 0) throw UsageError.expected('num_segments with temporal_pool', 'an even number', cfg.numSegments);
  }
  if (cfg.shiftMode === 'online') checkOnlineShift(cfg);
  if (cfg.nonLocal && family === 'resnet' && !isBottleneckResNet(cfg.baseModel)) {
    throw new UsageError(`non_local needs a Bottleneck ResNet (resnet50/101/152); ${cfg.baseModel} has BasicBlocks without bn3, which the original's NL3DWrapper cannot wrap either`);
  }
  return cfg;
}

/** The options an online (uni-directional) shift cannot go with. @throws {UsageError} naming the conflict */
function checkOnlineShift(cfg: TsnConfig): void {
  const family = ARCHS[cfg.baseModel].family;
  if (!cfg.isShift) throw new UsageError("shift_mode 'online' needs is_shift (pass isShift: true with shiftMode: 'online')", { options: ['isShift', 'shiftMode'] });
  if (family === 'bninception') throw new UsageError(`shift_mode 'online' is implemented for ResNet and MobileNetV2 backbones, got ${cfg.baseModel}`);
  if (cfg.temporalPool) throw new UsageError("shift_mode 'online' cannot go with temporal_pool: pooling over time mixes in the next frame");
  if (cfg.nonLocal) throw new UsageError("shift_mode 'online' cannot go with non_local: non-local blocks attend to every frame of the clip");
  // NOTE: the online step model caches c // 8 channels per shifted block (online_demo/mobilenet_v2_tsm.py).
  if (family === 'mobilenetv2' && cfg.shiftDiv !== 8) {
    throw UsageError.expected("shift_div with shift_mode 'online' on MobileNetV2", '8 (the online model caches c // 8 channels per block)', cfg.shiftDiv);
  }
}

/** Replaces the first Conv2d (in module order) by one with `inChannels` inputs, as `_construct_flow_model`. */
function replaceFirstConv(net: Module, inChannels: number): void {
  const hit = net.namedModules().find(([, m]) => m instanceof Conv2d);
  if (!hit) throw new UsageError(`${net.constructor.name} has no Conv2d to adapt to ${inChannels} input channels`);
  const [path, old] = hit as [string, Conv2d];
  const dot = path.lastIndexOf('.');
  const parent = dot < 0 ? net : net.namedModules().find(([p]) => p === path.slice(0, dot))?.[1];
  const conv = new Conv2d(inChannels, old.outChannels, {
    kernelSize: old.kernelSize,
    stride: old.stride,
    padding: old.padding,
    dilation: old.dilation,
    groups: old.groups,
    bias: old.bias !== undefined,
  });
  Reflect.set(parent as object, dot < 0 ? path : path.slice(dot + 1), conv);
}

/**
 * Mirrors TSM `ops/models.py` `TSN` in eval mode. Input `[B, T·C·L, H, W]` (C = 3 RGB / 2 Flow, L = new_length);
 * output `[B, num_class]` (`[B, T, num_class]` for `identity` consensus with T > 1).
 * Keys: `base_model.*` (the backbone, with `.net.` where shift/temporal pooling wrap a layer) then `new_fc.*`
 * when dropout > 0; e.g. `base_model.layer1.0.conv1.net.weight`, `new_fc.weight`.
 */
export class TSN extends Module {
  base_model: Backbone;
  readonly new_fc?: Linear;
  readonly consensus: ConsensusModule;
  /** Every option, defaults applied. */
  readonly config: TsnConfig;
  /** `input_size`, `input_mean`, `input_std` of the original (for the data pipeline), and the pixel range. */
  readonly inputSize: number;
  readonly inputMean: readonly number[];
  readonly inputStd: readonly number[];
  readonly inputRange: 1 | 255;

  constructor(opts: TsnOptions) {
    super();
    const cfg = resolveTsnOptions(opts);
    this.config = cfg;
    const info: ArchInfo = ARCHS[cfg.baseModel];
    this.base_model = TSN.prepareBaseModel(cfg);
    // _prepare_tsn: the backbone's last layer becomes Dropout (then new_fc) or a new Linear
    const featureDim = this.base_model.featureDim;
    const last = cfg.dropout === 0 ? new Linear(featureDim, cfg.numClass) : new Dropout(cfg.dropout);
    Reflect.set(this.base_model, this.base_model.lastLayerName, last);
    this.new_fc = cfg.dropout === 0 ? undefined : new Linear(featureDim, cfg.numClass);
    if (cfg.modality === 'Flow') replaceFirstConv(this.base_model, channelsPerFrame('Flow') * cfg.newLength);
    // main.py / test_models.py apply make_temporal_pool after building TSN (and after non-local)
    if (cfg.temporalPool) makeTemporalPool(this.base_model as ResNet, cfg.numSegments);
    this.consensus = new ConsensusModule(cfg.consensusType);
    this.inputSize = info.inputSize;
    this.inputRange = info.inputRange;
    const meanStd = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // as _prepare_base_model: Flow uses mean [0.5] / std [mean(std)] (BNInception: mean [128])
    this.inputMean = cfg.modality === 'Flow' ? (info.family === 'bninception' ? [128] : [0.5]) : info.inputMean;
    this.inputStd = cfg.modality === 'Flow' && info.family !== 'bninception' ? [meanStd(info.inputStd)] : info.inputStd;
    this.nameParameters();
  }

  /** `_prepare_base_model`: the backbone with shift and non-local inserted. */
  private static prepareBaseModel(cfg: TsnConfig): Backbone {
    const family = ARCHS[cfg.baseModel].family;
    if (family === 'resnet') {
      const net = resnet(cfg.baseModel as Parameters<typeof resnet>[0]);
      if (cfg.isShift) makeTemporalShift(net, cfg.numSegments, cfg.shiftDiv, cfg.shiftPlace, cfg.temporalPool, cfg.shiftMode);
      if (cfg.nonLocal) makeNonLocal(net, cfg.numSegments);
      return net;
    }
    if (family === 'mobilenetv2') {
      // NOTE: the original ignores shift_place and non_local for MobileNetV2 (and BNInception). The blocks shifted
      // here (8 layers and a residual: features 3, 5, 6, 8-10, 12, 13, 15, 16) are the online model's
      // SHIFT_BLOCK_IDX, so with shiftMode 'online' the weights run in the online step model as they are.
      const net = new MobileNetV2({ widthMult: cfg.widthMult });
      if (cfg.isShift) {
        for (const [, m] of net.namedModules()) {
          if (m instanceof InvertedResidual && m.conv.length === 8 && m.useResConnect) {
            m.conv[0] = new TemporalShift(m.conv[0], cfg.numSegments, cfg.shiftDiv, false, cfg.shiftMode);
          }
        }
      }
      return net;
    }
    // BNInception: build_temporal_ops(num_segments, is_temporal_shift=shift_place, shift_div)
    const net = new BNInception();
    if (cfg.isShift) shiftBNInception(net, cfg.numSegments, cfg.shiftDiv, cfg.shiftPlace);
    return net;
  }

  /** `sample_len` of TSN.forward: input channels per segment (C·L). */
  get sampleLength(): number {
    return channelsPerFrame(this.config.modality) * this.config.newLength;
  }

  /** Input channels the graph expects: T·C·L. */
  get inputChannels(): number {
    return this.config.numSegments * this.sampleLength;
  }

  forward(g: GraphBuilder, x: Value): Value {
    const cfg = this.config;
    const [, ch, h, w] = x.shape;
    if (x.rank !== 4 || ch !== this.inputChannels || !isStatic(h) || !isStatic(w)) {
      throw new ShapeError(
        `TSN input should be [B, ${this.inputChannels}, H, W] (${cfg.numSegments} segments x ${channelsPerFrame(cfg.modality)} channels x new_length ${cfg.newLength}), got ${shapeToString(x.shape)}`,
      );
    }
    let y = g.reshape(x, [-1, this.sampleLength, h, w]);
    y = this.base_model.call(g, y);
    if (this.new_fc) y = this.new_fc.call(g, y);
    // nn.Softmax() on [N, K] picks dim 1
    if (!cfg.beforeSoftmax) y = g.softmax(y, 1);
    const t = cfg.isShift && cfg.temporalPool ? cfg.numSegments / 2 : cfg.numSegments;
    y = this.consensus.call(g, g.reshape(y, [-1, t, cfg.numClass]));
    // output.squeeze(1): only drops the axis when it is 1
    return y.shape[1] === 1 ? g.squeeze(y, [1]) : y;
  }
}

/**
 * Builds a TSN (random-free: weights are zero until a state dict is loaded).
 * @example const model = tsn({ numClass: 400, numSegments: 8, baseModel: 'resnet50', isShift: true });
 */
export const tsn = (opts: TsnOptions): TSN => new TSN(opts);

/** Options of {@link buildTsnGraph}. */
export interface TsnGraphOptions {
  /** A fixed batch size; symbolic `B` when omitted. */
  readonly batch?: number;
  readonly height: number;
  readonly width: number;
  /** Default-domain opset. @default the graph layer's default */
  readonly opset?: number;
  /** Graph input name. @default 'input' */
  readonly inputName?: string;
  /** Graph output name. @default 'logits' */
  readonly outputName?: string;
}

/**
 * The inference graph of `model` (eval mode, weights as initializers): input `[B, T·C·L, H, W]` float32 named
 * `input`, output `logits`. Metadata records the arch, segments, classes and input normalization.
 * @throws {ShapeError} when H x W is too small for the backbone
 * @example const graph = buildTsnGraph(tsn({ numClass: 10, numSegments: 8, baseModel: 'resnet50' }), { height: 224, width: 224 });
 */
export function buildTsnGraph(model: TSN, opts: TsnGraphOptions): Graph {
  const cfg = model.config;
  const g = new GraphBuilder({ name: `tsn_${cfg.baseModel}`, opset: opts.opset });
  const x = g.input(opts.inputName ?? 'input', 'float32', [opts.batch ?? sym('B'), model.inputChannels, opts.height, opts.width]);
  g.output(model.forward(g, x), opts.outputName ?? 'logits');
  g.setMetadata('arch', cfg.baseModel);
  g.setMetadata('num_class', String(cfg.numClass));
  g.setMetadata('num_segments', String(cfg.numSegments));
  g.setMetadata('modality', cfg.modality);
  g.setMetadata('new_length', String(cfg.newLength));
  g.setMetadata('tsn_config', JSON.stringify(cfg));
  g.setMetadata('input_size', String(model.inputSize));
  g.setMetadata('input_mean', JSON.stringify(model.inputMean));
  g.setMetadata('input_std', JSON.stringify(model.inputStd));
  g.setMetadata('input_range', String(model.inputRange));
  return g.build();
}
