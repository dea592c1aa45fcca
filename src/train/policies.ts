/**
 * Per-parameter learning-rate and weight-decay groups, and partial BatchNorm, as TSM's `ops/models.py`
 * (`TSN.get_optim_policies`, `TSN.partialBN`, `TSN.train`).
 */
import { UsageError } from '../errors.js';
import { BatchNorm2d, BatchNorm3d, Conv2d, Linear, type Module, type Parameter } from '../nn/index.js';

/** One optimizer parameter group: the parameters and their multipliers of the base lr and weight decay. */
export interface ParamGroup {
  /** The original's group name, e.g. `first_conv_weight`, `BN scale/shift`. */
  readonly name: string;
  readonly params: readonly Parameter[];
  /** `lr = base_lr * lrMult` (adjust_learning_rate). */
  readonly lrMult: number;
  /** `weight_decay = base_weight_decay * decayMult`. */
  readonly decayMult: number;
}

/** Options of {@link getOptimPolicies}; a TSN's own config supplies them when omitted. */
export interface PolicyOptions {
  /** `Flow` multiplies the first conv's lr by 5 (weight) and 10 (bias). @default model.config.modality or 'RGB' */
  readonly modality?: 'RGB' | 'Flow';
  /** The classifier (every Linear) gets lr x5 (weight) and x10 (bias). @default model.config.fcLr5 or false */
  readonly fcLr5?: boolean;
  /** Only the first BatchNorm's scale/shift are trained. @default model.config.partialBn or true */
  readonly partialBn?: boolean;
}

/** The TSN config fields the policies read, found by duck typing so any Module can be passed. */
interface PolicyConfig {
  readonly modality?: string;
  readonly fcLr5?: boolean;
  readonly partialBn?: boolean;
}

const configOf = (model: Module): PolicyConfig => ((model as unknown as { config?: PolicyConfig }).config ?? {});

/** Learnable parameters of one module itself (not its children), as `m.parameters()` of a leaf. */
const ownLearnable = (m: Module): Parameter[] => m.ownTensors().filter(([, p]) => !p.isBuffer).map(([, p]) => p);

/**
 * `TSN.get_optim_policies()`: the 8 parameter groups of the original, in its order, over `model`'s modules in
 * `modules()` order. First conv weight lr x1 (Flow x5) decay x1; first conv bias x2 (Flow x10) decay x0;
 * other conv weights x1/x1 and biases x2/x0; BatchNorm scale/shift x1/x0 (only the first BN with partial BN);
 * `custom_ops` (empty here); Linear weight x5/x1 and bias x10/x0 with `fcLr5`, else with the normal groups.
 * @throws {UsageError} for a leaf module with parameters of an unknown kind (as the original's ValueError)
 * @example
 * const groups = getOptimPolicies(model); // model.config.fcLr5 / partialBn / modality decide
 * const sgd = new SGD(groups, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
 */
export function getOptimPolicies(model: Module, opts: PolicyOptions = {}): ParamGroup[] {
  const cfg = configOf(model);
  const flow = (opts.modality ?? cfg.modality ?? 'RGB') === 'Flow';
  const fcLr5 = opts.fcLr5 ?? cfg.fcLr5 ?? false;
  const pbn = opts.partialBn ?? cfg.partialBn ?? true;
  const firstConvWeight: Parameter[] = [];
  const firstConvBias: Parameter[] = [];
  const normalWeight: Parameter[] = [];
  const normalBias: Parameter[] = [];
  const lr5Weight: Parameter[] = [];
  const lr10Bias: Parameter[] = [];
  const bn: Parameter[] = [];
  let convCnt = 0;
  let bnCnt = 0;
  for (const [path, m] of model.namedModules()) {
    if (m instanceof Conv2d) {
      convCnt++;
      (convCnt === 1 ? firstConvWeight : normalWeight).push(m.weight);
      if (m.bias) (convCnt === 1 ? firstConvBias : normalBias).push(m.bias);
    } else if (m instanceof Linear) {
      (fcLr5 ? lr5Weight : normalWeight).push(m.weight);
      if (m.bias) (fcLr5 ? lr10Bias : normalBias).push(m.bias);
    } else if (m instanceof BatchNorm2d) {
      bnCnt++;
      // later BN's are frozen
      if (!pbn || bnCnt === 1) bn.push(m.weight, m.bias);
    } else if (m.namedChildren().length === 0 && ownLearnable(m).length > 0) {
      throw new UsageError(`New atomic module type: ${m.constructor.name} at "${path}". Need to give it a learning policy in src/train/policies.ts`);
    }
  }
  return [
    { name: 'first_conv_weight', params: firstConvWeight, lrMult: flow ? 5 : 1, decayMult: 1 },
    { name: 'first_conv_bias', params: firstConvBias, lrMult: flow ? 10 : 2, decayMult: 0 },
    { name: 'normal_weight', params: normalWeight, lrMult: 1, decayMult: 1 },
    { name: 'normal_bias', params: normalBias, lrMult: 2, decayMult: 0 },
    { name: 'BN scale/shift', params: bn, lrMult: 1, decayMult: 0 },
    { name: 'custom_ops', params: [], lrMult: 1, decayMult: 1 },
    { name: 'lr5_weight', params: lr5Weight, lrMult: 5, decayMult: 1 },
    { name: 'lr10_bias', params: lr10Bias, lrMult: 10, decayMult: 0 },
  ];
}

/** One group with every learnable parameter in registration order, as `SGD(model.parameters(), ...)`. */
export function singleGroup(model: Module): ParamGroup[] {
  return [{ name: 'default', params: model.namedTensors().filter(([, p]) => !p.isBuffer).map(([, p]) => p), lrMult: 1, decayMult: 1 }];
}

/**
 * `model.train()` with TSN's partial BN: every BatchNorm2d of `base_model` (or of the whole model when it has
 * none) after the first uses its running statistics and keeps its scale/shift fixed; `false` unfreezes them all.
 * @param partialBn @default model.config.partialBn or true
 * @returns the number of frozen BatchNorm layers
 */
export function setTrainMode(model: Module, partialBn = configOf(model).partialBn ?? true): number {
  model.train();
  const base = (model as unknown as { base_model?: Module }).base_model ?? model;
  let count = 0;
  let frozen = 0;
  for (const [, m] of base.namedModules()) {
    // NOTE: the original tests isinstance(m, nn.BatchNorm2d), which BatchNorm3d (non-local blocks) is not:
    // those stay in training mode and are not counted. Ours subclasses BatchNorm2d, so exclude it explicitly.
    if (m instanceof BatchNorm3d) {
      m.frozen = false;
      continue;
    }
    if (!(m instanceof BatchNorm2d)) continue;
    count++;
    m.frozen = partialBn && count >= 2;
    if (m.frozen) frozen++;
  }
  return frozen;
}
