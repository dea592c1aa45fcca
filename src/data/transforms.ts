/**
 * Group transforms, as ops/transforms.py: each one is applied identically to every frame of a clip (one random
 * draw per clip). Transforms are described by plain-data {@link TransformSpec}s so the same pipeline can be built
 * inside loader worker threads; {@link buildTransforms} turns specs into {@link GroupTransform} objects.
 */
import { UsageError } from '../errors.js';
import { hostTensor, type HostTensor } from '../tensor/index.js';
import { centerCropOffset, scaledSize } from '../util/crop-geometry.js';
import { positiveInt } from '../util/check.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../util/imagenet.js';
import { cropImage, flipImage, invertImage, resizeBilinear, type Image } from './image.js';
import { normalizeRgbSimd } from './pixel-kernels.js';
import type { Modality } from './list-file.js';
import type { RandomState } from './random.js';

/** One group transform: frames in, frames out, all changed the same way. */
export interface GroupTransform {
  apply(group: readonly Image[], rng: RandomState): Promise<Image[]>;
}

export { IMAGENET_MEAN, IMAGENET_STD } from '../util/imagenet.js';

/** The original's default `GroupMultiScaleCrop` scales. */
export const MULTI_SCALE_CROP_SCALES: readonly number[] = Object.freeze([1, 0.875, 0.75, 0.66]);

function sameSize(group: readonly Image[]): { width: number; height: number } {
  if (group.length === 0) throw new UsageError('a group transform needs at least one frame');
  const { width, height } = group[0];
  for (const img of group) {
    if (img.width !== width || img.height !== height) {
      throw new UsageError(`all frames of a clip must have one size: got ${img.width}x${img.height} and ${width}x${height}`);
    }
  }
  return { width, height };
}

/** Rescales so the shorter side is `size` (bilinear), as `GroupScale(size)` / torchvision `Resize(size)`. */
export class GroupScale implements GroupTransform {
  constructor(readonly size: number) {
    positiveInt('GroupScale size', size);
  }

  async apply(group: readonly Image[]): Promise<Image[]> {
    return group.map((img) => {
      const { width, height } = scaledSize(img.width, img.height, this.size);
      return resizeBilinear(img, width, height);
    });
  }
}

/** Crops the centre `size` x `size` (torchvision `CenterCrop`, offsets rounded half-to-even as Python's `round`). */
export class GroupCenterCrop implements GroupTransform {
  constructor(readonly size: number) {
    positiveInt('GroupCenterCrop size', size);
  }

  async apply(group: readonly Image[]): Promise<Image[]> {
    const { width, height } = sameSize(group);
    const { left, top } = centerCropOffset(width, height, this.size, this.size);
    return group.map((img) => cropImage(img, left, top, this.size, this.size));
  }
}

/** A random `size` x `size` crop (`GroupRandomCrop`). */
export class GroupRandomCrop implements GroupTransform {
  constructor(readonly size: number) {}

  async apply(group: readonly Image[], rng: RandomState): Promise<Image[]> {
    const { width, height } = sameSize(group);
    const x1 = rng.randint(0, width - this.size + 1);
    const y1 = rng.randint(0, height - this.size + 1);
    return group.map((img) => cropImage(img, x1, y1, this.size, this.size));
  }
}

/**
 * The 5 (or 13 with `moreFixCrop`) fixed crop offsets of `GroupMultiScaleCrop.fill_fix_offset`, as [x, y] pairs in
 * the original's order.
 */
export function fillFixOffset(moreFixCrop: boolean, imageW: number, imageH: number, cropW: number, cropH: number): [number, number][] {
  const ws = Math.floor((imageW - cropW) / 4);
  const hs = Math.floor((imageH - cropH) / 4);
  const ret: [number, number][] = [[0, 0], [4 * ws, 0], [0, 4 * hs], [4 * ws, 4 * hs], [2 * ws, 2 * hs]];
  if (moreFixCrop) {
    ret.push([0, 2 * hs], [4 * ws, 2 * hs], [2 * ws, 4 * hs], [2 * ws, 0]);
    ret.push([ws, hs], [3 * ws, hs], [ws, 3 * hs], [3 * ws, 3 * hs]);
  }
  return ret;
}

/** Options of {@link GroupMultiScaleCrop} (the original's constructor arguments). */
export interface MultiScaleCropOptions {
  /** @default [1, .875, .75, .66] */
  readonly scales?: readonly number[];
  /** Largest index distance between the width scale and the height scale. @default 1 */
  readonly maxDistort?: number;
  /** Use the fixed offsets instead of a uniform random offset. @default true */
  readonly fixCrop?: boolean;
  /** 13 fixed offsets instead of 5. @default true */
  readonly moreFixCrop?: boolean;
}

/**
 * TSN's corner-and-scale jittering: crop a random (w, h) from `scales` x the shorter side (sizes within 3 pixels
 * of the input size snap to it) at one of the fixed offsets, then resize to `inputSize` (bilinear).
 */
export class GroupMultiScaleCrop implements GroupTransform {
  readonly scales: readonly number[];
  readonly maxDistort: number;
  readonly fixCrop: boolean;
  readonly moreFixCrop: boolean;

  constructor(readonly inputSize: number, opts: MultiScaleCropOptions = {}) {
    this.scales = opts.scales ?? MULTI_SCALE_CROP_SCALES;
    this.maxDistort = opts.maxDistort ?? 1;
    this.fixCrop = opts.fixCrop ?? true;
    this.moreFixCrop = opts.moreFixCrop ?? true;
  }

  /** `_sample_crop_size`: the crop (w, h) and its offset (x, y). */
  sampleCrop(imageW: number, imageH: number, rng: RandomState): { w: number; h: number; x: number; y: number } {
    const base = Math.min(imageW, imageH);
    const sizes = this.scales.map((s) => Math.trunc(base * s));
    const snap = (x: number): number => (Math.abs(x - this.inputSize) < 3 ? this.inputSize : x);
    const pairs: [number, number][] = [];
    sizes.forEach((h, i) => sizes.forEach((w, j) => {
      if (Math.abs(i - j) <= this.maxDistort) pairs.push([snap(w), snap(h)]);
    }));
    const [w, h] = rng.choice(pairs);
    if (!this.fixCrop) return { w, h, x: rng.randint(0, imageW - w + 1), y: rng.randint(0, imageH - h + 1) };
    const [x, y] = rng.choice(fillFixOffset(this.moreFixCrop, imageW, imageH, w, h));
    return { w, h, x, y };
  }

  async apply(group: readonly Image[], rng: RandomState): Promise<Image[]> {
    const { width, height } = sameSize(group);
    const { w, h, x, y } = this.sampleCrop(width, height, rng);
    return group.map((img) => resizeBilinear(img, this.inputSize, this.inputSize, { x, y, w, h }));
  }
}

/** Flips the whole clip left-right with probability 0.5; for flow, the x frames (even positions) are inverted. */
export class GroupRandomHorizontalFlip implements GroupTransform {
  constructor(readonly isFlow = false) {}

  async apply(group: readonly Image[], rng: RandomState): Promise<Image[]> {
    if (rng.random() >= 0.5) return [...group];
    // as the original: flipping a flow field negates its x component, stored as 255 - x
    return group.map((img, i) => (this.isFlow && i % 2 === 0 ? invertImage(flipImage(img)) : flipImage(img)));
  }
}

/** Crops at each offset, appending the crop's frames and then (with `flip`) their mirrored copies. */
function multiCrop(group: readonly Image[], offsets: readonly [number, number][], cw: number, ch: number, flip: boolean): Image[] {
  const out: Image[] = [];
  for (const [ox, oy] of offsets) {
    const normal = group.map((img) => cropImage(img, ox, oy, cw, ch));
    out.push(...normal);
    if (flip) out.push(...normal.map((c, i) => (c.channels === 1 && i % 2 === 0 ? invertImage(flipImage(c)) : flipImage(c))));
  }
  return out;
}

/** 10-crop testing (`GroupOverSample`): 4 corners + centre, each also flipped; optional rescale first. */
export class GroupOverSample implements GroupTransform {
  constructor(readonly cropSize: number, readonly scaleSize?: number, readonly flip = true) {}

  async apply(group: readonly Image[]): Promise<Image[]> {
    const scaled = this.scaleSize === undefined ? [...group] : await new GroupScale(this.scaleSize).apply(group);
    const { width, height } = sameSize(scaled);
    return multiCrop(scaled, fillFixOffset(false, width, height, this.cropSize, this.cropSize), this.cropSize, this.cropSize, this.flip);
  }
}

/** 3-crop testing (`GroupFullResSample`): left, right and centre at mid height, optionally flipped too. */
export class GroupFullResSample implements GroupTransform {
  constructor(readonly cropSize: number, readonly scaleSize?: number, readonly flip = true) {}

  async apply(group: readonly Image[]): Promise<Image[]> {
    const scaled = this.scaleSize === undefined ? [...group] : await new GroupScale(this.scaleSize).apply(group);
    const { width, height } = sameSize(scaled);
    const ws = Math.floor((width - this.cropSize) / 4);
    const hs = Math.floor((height - this.cropSize) / 4);
    const offsets: [number, number][] = [[0, 2 * hs], [4 * ws, 2 * hs], [2 * ws, 2 * hs]];
    return multiCrop(scaled, offsets, this.cropSize, this.cropSize, this.flip);
  }
}

/** Runs transforms in order (torchvision's `Compose` for group transforms). */
export class GroupCompose implements GroupTransform {
  constructor(readonly transforms: readonly GroupTransform[]) {}

  async apply(group: readonly Image[], rng: RandomState): Promise<Image[]> {
    let g: Image[] = [...group];
    for (const t of this.transforms) g = await t.apply(g, rng);
    return g;
  }
}

/** A group transform as plain data (serialisable to loader workers). */
export type TransformSpec =
  | { readonly op: 'GroupScale'; readonly size: number }
  | { readonly op: 'GroupCenterCrop'; readonly size: number }
  | { readonly op: 'GroupRandomCrop'; readonly size: number }
  | ({ readonly op: 'GroupMultiScaleCrop'; readonly inputSize: number } & MultiScaleCropOptions)
  | { readonly op: 'GroupRandomHorizontalFlip'; readonly isFlow?: boolean }
  | { readonly op: 'GroupOverSample'; readonly cropSize: number; readonly scaleSize?: number; readonly flip?: boolean }
  | { readonly op: 'GroupFullResSample'; readonly cropSize: number; readonly scaleSize?: number; readonly flip?: boolean };

/** Builders for each {@link TransformSpec} `op`. */
const BUILDERS: { readonly [K in TransformSpec['op']]: (s: Extract<TransformSpec, { op: K }>) => GroupTransform } = {
  GroupScale: (s) => new GroupScale(s.size),
  GroupCenterCrop: (s) => new GroupCenterCrop(s.size),
  GroupRandomCrop: (s) => new GroupRandomCrop(s.size),
  GroupMultiScaleCrop: (s) => new GroupMultiScaleCrop(s.inputSize, s),
  GroupRandomHorizontalFlip: (s) => new GroupRandomHorizontalFlip(s.isFlow ?? false),
  GroupOverSample: (s) => new GroupOverSample(s.cropSize, s.scaleSize, s.flip ?? true),
  GroupFullResSample: (s) => new GroupFullResSample(s.cropSize, s.scaleSize, s.flip ?? true),
};

/**
 * Builds a {@link GroupCompose} from specs.
 * @throws {UsageError} for an unknown `op`
 */
export function buildTransforms(specs: readonly TransformSpec[]): GroupCompose {
  return new GroupCompose(specs.map((s) => {
    const build = BUILDERS[s.op] as ((x: TransformSpec) => GroupTransform) | undefined;
    if (!build) throw UsageError.unsupported('transform', (s as { op: unknown }).op, Object.keys(BUILDERS));
    return build(s);
  }));
}

/**
 * The training augmentation of `TSN.get_augmentation`: multi-scale crop (scales [1, .875, .75, .66] for RGB,
 * [1, .875, .75] for Flow) then a random flip unless `flip` is false (Something-Something, Jester).
 */
export function trainAugmentation(opts: { modality?: Modality; inputSize?: number; flip?: boolean } = {}): TransformSpec[] {
  const { modality = 'RGB', inputSize = 224, flip = true } = opts;
  const isFlow = modality === 'Flow';
  const crop: TransformSpec = { op: 'GroupMultiScaleCrop', inputSize, scales: isFlow ? [1, 0.875, 0.75] : [...MULTI_SCALE_CROP_SCALES] };
  // NOTE: the original always flips Flow (get_augmentation ignores flip for it), inverting the x frames
  return flip || isFlow ? [crop, { op: 'GroupRandomHorizontalFlip', isFlow }] : [crop];
}

/** Validation cropping of main.py: `GroupScale(scaleSize)` then `GroupCenterCrop(cropSize)`. */
export function valCropping(opts: { cropSize?: number; scaleSize?: number } = {}): TransformSpec[] {
  const { cropSize = 224, scaleSize = Math.floor((cropSize * 256) / 224) } = opts;
  return [{ op: 'GroupScale', size: scaleSize }, { op: 'GroupCenterCrop', size: cropSize }];
}

/** Test cropping of test_models.py for `--test-crops` 1, 3 (no flip), 5 (no flip) or 10, and `--full-res`. */
export function testCropping(testCrops: 1 | 3 | 5 | 10, opts: { inputSize?: number; scaleSize?: number; fullRes?: boolean } = {}): TransformSpec[] {
  const { inputSize = 224, scaleSize = Math.floor((inputSize * 256) / 224), fullRes = false } = opts;
  const cropSize = fullRes ? scaleSize : inputSize;
  switch (testCrops) {
    case 1: return [{ op: 'GroupScale', size: scaleSize }, { op: 'GroupCenterCrop', size: cropSize }];
    case 3: return [{ op: 'GroupFullResSample', cropSize, scaleSize, flip: false }];
    case 5: return [{ op: 'GroupOverSample', cropSize, scaleSize, flip: false }];
    case 10: return [{ op: 'GroupOverSample', cropSize, scaleSize, flip: true }];
    default: throw UsageError.expected('testCrops', 'one of 1, 3, 5, 10', testCrops);
  }
}

/** Stack + ToTorchFormatTensor + GroupNormalize settings. */
export interface NormalizeSpec {
  /** Per-channel mean, repeated over the stacked channels. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** Divide by 255 first (`ToTorchFormatTensor(div=True)`); false for BNInception. @default true */
  readonly div?: boolean;
  /** Reverse RGB to BGR per frame (`Stack(roll=True)`, BNInception). @default false */
  readonly roll?: boolean;
}

/** The normalisation of `TSN` for a modality: ImageNet for RGB; mean 0.5 and std mean(ImageNet std) for Flow. */
export function normalizationFor(modality: Modality = 'RGB'): NormalizeSpec {
  if (modality === 'Flow') return { mean: [0.5], std: [(IMAGENET_STD[0] + IMAGENET_STD[1] + IMAGENET_STD[2]) / 3] };
  return { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] };
}

/**
 * The normalisation of stacked channel `plane` (mean and std cycle over the planes, as GroupNormalize repeats them)
 * as a 256-entry table.
 * NOTE: computed in float32 step by step (`x.float().div(255)`, `sub_(m)`, `div_(s)`) as torch does on CPU, so a
 * value equals the original's bit for bit given the same bytes.
 */
function lookupTable(norm: NormalizeSpec, plane: number): Float32Array {
  const { mean, std, div = true } = norm;
  const f = Math.fround;
  const m = f(mean[plane % mean.length]);
  const s = f(std[plane % std.length]);
  const t = new Float32Array(256);
  for (let v = 0; v < 256; v++) t[v] = f(f((div ? f(v / 255) : v) - m) / s);
  return t;
}

function checkNormalize({ mean, std }: NormalizeSpec, channels: number): void {
  if (mean.length === 0 || mean.length !== std.length) throw new UsageError(`normalize: mean (${mean.length}) and std (${std.length}) must have one equal, non-zero length`);
  if (channels % mean.length !== 0) throw new UsageError(`normalize: ${channels} stacked channels is not a multiple of ${mean.length} mean values`);
}

/** Channels after stacking a group: frames x channels per frame. */
export function stackedChannels(group: readonly Image[]): number {
  return group.reduce((n, img) => n + img.channels, 0);
}

/**
 * Stack + ToTorchFormatTensor + GroupNormalize into `out` at `offset`: frames are concatenated along channels,
 * giving `[sum(channels), H, W]`, values `(x / 255 - mean) / std`.
 * @returns the number of floats written
 */
export function normalizeInto(group: readonly Image[], norm: NormalizeSpec, out: Float32Array, offset = 0): number {
  const { width, height } = sameSize(group);
  const hw = width * height;
  checkNormalize(norm, stackedChannels(group));
  const { mean, std, div = true } = norm;
  // tables repeat with the mean's period: build each once, and only for frames the SIMD kernel does not take
  const tables = new Map<number, Float32Array>();
  const lut = (p: number): Float32Array => {
    const k = p % mean.length;
    let t = tables.get(k);
    if (!t) tables.set(k, (t = lookupTable(norm, k)));
    return t;
  };
  const cycle = (v: readonly number[], p: number): [number, number, number] => [v[p % v.length], v[(p + 1) % v.length], v[(p + 2) % v.length]];
  let plane = 0;
  for (const img of group) {
    const c = img.channels;
    const data = img.data;
    const b0 = offset + plane * hw;
    const simd = c === 3 && normalizeRgbSimd(data, hw, out, [b0, b0 + hw, b0 + 2 * hw], div ? 255 : 1, cycle(mean, plane), cycle(std, plane), norm.roll ?? false);
    if (!simd && c === 3) {
      // one pass over the interleaved pixels writing three planes: a third fewer passes over memory than a pass
      // per channel, which is what this loop costs
      const [s0, s1, s2] = norm.roll ? [2, 1, 0] : [0, 1, 2];
      const [l0, l1, l2] = [lut(plane), lut(plane + 1), lut(plane + 2)];
      const b1 = b0 + hw;
      const b2 = b1 + hw;
      for (let i = 0, j = 0; i < hw; i++, j += 3) {
        out[b0 + i] = l0[data[j + s0]];
        out[b1 + i] = l1[data[j + s1]];
        out[b2 + i] = l2[data[j + s2]];
      }
    } else if (!simd) {
      const l = lut(plane);
      for (let i = 0; i < hw; i++) out[b0 + i] = l[data[i]];
    }
    plane += c;
  }
  return plane * hw;
}

/** {@link normalizeInto} into a new `[channels, H, W]` float32 tensor. */
export function groupToTensor(group: readonly Image[], norm: NormalizeSpec): HostTensor<'float32'> {
  const { width, height } = sameSize(group);
  const channels = stackedChannels(group);
  const data = new Float32Array(channels * width * height);
  normalizeInto(group, norm, data);
  return hostTensor('float32', [channels, height, width], data);
}
