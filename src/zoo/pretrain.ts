/**
 * `--pretrain imagenet`: maps an ImageNet backbone's state dict (torchvision ResNet, the original's MobileNetV2 or
 * BNInception) into the TSN tree, as the original TSN gets it: the backbone is built with ImageNet weights, then
 * shifted and wrapped, so every key gains `base_model.` and wrapped layers gain `.net` (TemporalShift,
 * TemporalPool) or `.block` (the non-local wrapper); the ImageNet classifier is replaced by the new fc.
 */
import { CheckpointError } from '../errors.js';
import { allocTyped, type HostTensor } from '../tensor/index.js';

/** Path components that TSM's wrappers add between a backbone layer and its parameters. */
const WRAPPER_COMPONENTS: ReadonlySet<string> = new Set([
  'net', // ops/temporal_shift.py TemporalShift(net) and TemporalPool(net)
  'block', // ops/non_local.py NL3DWrapper(block)
]);

/** Options of {@link mapImagenetStateDict}. */
export interface MapImagenetOptions {
  /** Input modality; Flow and RGBDiff rebuild the first conv for their channel count. @default 'RGB' */
  readonly modality?: 'RGB' | 'Flow' | 'RGBDiff';
  /** Frames stacked per segment. @default 1 for RGB, 5 for Flow and RGBDiff (TSN's default) */
  readonly newLength?: number;
  /** Where the backbone sits in the model's state dict. @default 'base_model.' */
  readonly prefix?: string;
  /**
   * The ImageNet classifier, which TSN replaces (`fc` for ResNet and BNInception, `classifier` for MobileNetV2);
   * its keys are always reported as unused. @default whichever of `fc` and `classifier` the state dict has
   */
  readonly lastLayerName?: string;
}

/**
 * The model's state-dict keys, in order, or key → shape to also check shapes (a shape mismatch throws).
 */
export type ModelStateKeys = readonly string[] | ReadonlyMap<string, readonly number[]>;

/** The result of {@link mapImagenetStateDict}. */
export interface ImagenetMapping {
  /** Tensors to load, keyed by the model's state-dict keys (`base_model.layer1.0.conv1.net.weight`). */
  readonly stateDict: Map<string, HostTensor>;
  /** ImageNet keys that went nowhere: the classifier, and anything the model does not have. */
  readonly unused: readonly string[];
  /** Model keys no ImageNet tensor filled (the new fc, non-local blocks): they keep their initialization. */
  readonly missing: readonly string[];
  /** Model keys whose tensor was rebuilt on the way (the first conv for Flow and RGBDiff). */
  readonly adapted: readonly string[];
}

/**
 * Maps an ImageNet state dict onto a TSN model's keys. Matching strips `prefix` and the wrapper components
 * (`net`, `block`) from each model key, so `base_model.layer1.0.conv1.net.weight` takes ImageNet's
 * `layer1.0.conv1.weight`. For Flow (RGBDiff), the first conv's kernel is averaged over its 3 input channels and
 * repeated over 2·newLength (3·newLength) channels, as ops/models.py `_construct_flow_model` does; its bias, if
 * any, is kept.
 * @param imagenetSd the ImageNet network's state dict, in its saved order (the first 4-D weight is the first conv)
 * @param model the model's state-dict keys, or key → shape
 * @returns the tensors to load and the keys left over on each side
 * @throws {CheckpointError} `TSM_CHECKPOINT_ARCH` when no key matches (another backbone), `TSM_CHECKPOINT_SHAPE`
 *   when shapes are given and one differs
 * @example
 * const { stateDict, unused, missing } = mapImagenetStateDict(resnet50Sd, model.stateDictShapes(), { modality: 'Flow' });
 * // unused: ['fc.weight', 'fc.bias']; missing: ['new_fc.weight', 'new_fc.bias']
 */
export function mapImagenetStateDict(
  imagenetSd: ReadonlyMap<string, HostTensor>,
  model: ModelStateKeys,
  opts: MapImagenetOptions = {},
): ImagenetMapping {
  const modality = opts.modality ?? 'RGB';
  const newLength = opts.newLength ?? (modality === 'RGB' ? 1 : 5);
  if (!Number.isInteger(newLength) || newLength < 1) {
    throw new TypeError(`Expected a positive integer for newLength but received ${newLength}`);
  }
  const prefix = opts.prefix ?? 'base_model.';
  const lastLayer = opts.lastLayerName ?? ([...imagenetSd.keys()].some((k) => k.startsWith('classifier.')) ? 'classifier' : 'fc');
  const modelKeys = Array.isArray(model) ? (model as readonly string[]) : [...(model as ReadonlyMap<string, readonly number[]>).keys()];
  const shapes = Array.isArray(model) ? undefined : (model as ReadonlyMap<string, readonly number[]>);

  const byBackboneKey = new Map<string, string>();
  for (const key of modelKeys) {
    if (!key.startsWith(prefix)) continue;
    byBackboneKey.set(unwrapKey(key.slice(prefix.length)), key);
  }
  const firstConv = [...imagenetSd].find(([k, t]) => k.endsWith('.weight') && t.shape.length === 4)?.[0];

  const stateDict = new Map<string, HostTensor>();
  const unused: string[] = [];
  const adapted: string[] = [];
  for (const [key, tensor] of imagenetSd) {
    const target = key.startsWith(`${lastLayer}.`) ? undefined : byBackboneKey.get(key);
    if (target === undefined) {
      unused.push(key);
      continue;
    }
    let value = tensor;
    if (key === firstConv && modality !== 'RGB') {
      value = averageInputChannels(tensor, (modality === 'Flow' ? 2 : 3) * newLength, key);
      adapted.push(target);
    }
    const want = shapes?.get(target);
    if (want && !sameShape(want, value.shape)) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_SHAPE',
        `ImageNet "${key}" has shape [${value.shape}]${value === tensor ? '' : ` after the ${modality} first-conv rebuild`}, ` +
          `but the model's "${target}" has [${want}]; is the backbone the same architecture?`,
      );
    }
    stateDict.set(target, value);
  }
  if (stateDict.size === 0) {
    const head = (keys: Iterable<string>): string => [...keys].slice(0, 3).map((k) => `"${k}"`).join(', ');
    throw new CheckpointError(
      'TSM_CHECKPOINT_ARCH',
      `none of the ${imagenetSd.size} ImageNet keys fits the model (ImageNet keys: ${head(imagenetSd.keys())}, ...; ` +
        `model keys: ${head(modelKeys)}, ...); pick the ImageNet weights of the model's backbone, or pass { prefix } ` +
        `if the backbone is not under "${prefix}"`,
    );
  }
  const missing = modelKeys.filter((k) => !stateDict.has(k));
  return { stateDict, unused, missing, adapted };
}

/** `layer2.net.0.conv1.net.weight` → `layer2.0.conv1.weight`: drops the components TSM's wrappers add. */
export function unwrapKey(key: string): string {
  return key
    .split('.')
    .filter((c) => !WRAPPER_COMPONENTS.has(c))
    .join('.');
}

/**
 * `weight.mean(dim=1, keepdim=True).expand(O, channels, kh, kw)`, as `_construct_flow_model`.
 * NOTE: sums in float32 in channel order, then divides, which is what torch's CPU mean does for this layout; the
 * result matches torch to the last bit or one ulp.
 */
function averageInputChannels(t: HostTensor, channels: number, key: string): HostTensor {
  if (t.dtype !== 'float32' && t.dtype !== 'float64') {
    throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `first conv "${key}" is ${t.dtype}; expected float32 or float64 to average its channels`);
  }
  const [out, inC, kh, kw] = t.shape;
  const area = kh * kw;
  const round = t.dtype === 'float32' ? Math.fround : (x: number) => x;
  const src = t.data as Float32Array | Float64Array;
  const dst = allocTyped(t.dtype, out * channels * area) as Float32Array | Float64Array;
  for (let o = 0; o < out; o++) {
    for (let p = 0; p < area; p++) {
      let sum = 0;
      for (let c = 0; c < inC; c++) sum = round(sum + src[(o * inC + c) * area + p]);
      const mean = round(sum / inC);
      for (let c = 0; c < channels; c++) dst[(o * channels + c) * area + p] = mean;
    }
  }
  return { dtype: t.dtype, shape: [out, channels, kh, kw], data: dst } as HostTensor;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
