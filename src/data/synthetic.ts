/**
 * A synthetic temporal-order dataset: clips whose classes differ only in the ORDER of their frames (a shape moving
 * left vs right, up vs down, turning clockwise vs anticlockwise, growing vs shrinking), over random colours,
 * sizes, backgrounds, noise and a static distractor. Each reversed class is rendered as its partner's clip played
 * backwards, so the set of frames of a "left" clip and of a "right" clip have exactly the same distribution: a
 * model that ignores time (TSN's average) is at chance within a pair, TSM is not.
 * Three more motions (orbit, shake, bounce) are not part of that task: they are actions a model trained on it has
 * never seen, for teaching it new ones.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { hostTensor, type HostTensor } from '../tensor/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { oneOf } from '../util/check.js';
import { DATASET_MANIFEST, type DatasetManifest } from './dataset-config.js';
import { encodeJpeg, makeImage, type Image } from './image.js';
import { formatListFile, type VideoRecord } from './list-file.js';
import { mixSeed, RandomState } from './random.js';
import { getValIndices } from './sampling.js';
import { formatTemplate } from './template.js';
import { normalizationFor, normalizeInto, type NormalizeSpec } from './transforms.js';

/** The motion each class shows, and whether it is its partner played backwards. */
export const SYNTHETIC_CLASSES = Object.freeze({
  right: { motion: 'translate-x', reversed: false },
  left: { motion: 'translate-x', reversed: true },
  down: { motion: 'translate-y', reversed: false },
  up: { motion: 'translate-y', reversed: true },
  clockwise: { motion: 'rotate', reversed: false },
  anticlockwise: { motion: 'rotate', reversed: true },
  grow: { motion: 'scale', reversed: false },
  shrink: { motion: 'scale', reversed: true },
  orbit: { motion: 'orbit', reversed: false },
  shake: { motion: 'shake', reversed: false },
  bounce: { motion: 'bounce', reversed: false },
} as const);

/** One of {@link SYNTHETIC_CLASSES}. */
export type SyntheticClass = keyof typeof SYNTHETIC_CLASSES;

/** Every class, in table order. */
export const ALL_SYNTHETIC_CLASSES: readonly SyntheticClass[] = Object.freeze(Object.keys(SYNTHETIC_CLASSES) as SyntheticClass[]);

/** The temporal-order task: the four motions and their reverses (what `tsm make-synthetic` renders by default). */
export const TEMPORAL_ORDER_CLASSES: readonly SyntheticClass[] = Object.freeze(
  ['right', 'left', 'down', 'up', 'clockwise', 'anticlockwise', 'grow', 'shrink'] as const,
);

/**
 * Motions outside the temporal-order task: a shape circling the centre once (orbit), swinging left and right two to
 * three times (shake), dropping and coming back up (bounce).
 */
export const NEW_MOTION_CLASSES: readonly SyntheticClass[] = Object.freeze(['orbit', 'shake', 'bounce'] as const);

/** Checks class names given by a user. */
export function parseSyntheticClasses(names: readonly string[]): SyntheticClass[] {
  if (names.length < 2) throw UsageError.expected('classes', 'at least two class names', names.join(','));
  for (const n of names) {
    oneOf('class', n, SYNTHETIC_CLASSES);
  }
  if (new Set(names).size !== names.length) throw UsageError.expected('classes', 'distinct class names', names.join(','));
  return names as SyntheticClass[];
}

/** Options of {@link renderSyntheticClip}. */
export interface SyntheticClipOptions {
  /** Frame width and height in pixels. @default 64 */
  readonly size?: number;
  /** Frames per clip. @default 16 */
  readonly frames?: number;
  /** Seed of this clip's appearance and motion. @default 0 */
  readonly seed?: number;
  /** Standard deviation of per-pixel noise, in levels of 255. @default 8 */
  readonly noise?: number;
  /**
   * Seed of the scene (colours, shape, background, distractor) when it should not come from `seed`: clips with
   * the same scene seed show one "room", as clips a person records at home do; `seed` then draws only the motion.
   * @default the scene comes from `seed`
   */
  readonly sceneSeed?: number;
}

type Shape = 'disc' | 'square' | 'triangle';

interface Scene {
  bg0: number[];
  bg1: number[];
  gradientVertical: boolean;
  fg: number[];
  shape: Shape;
  distractor: { x: number; y: number; r: number; colour: number[] };
}

function randomColour(rng: RandomState): number[] {
  return [rng.randint(256), rng.randint(256), rng.randint(256)];
}

/** A foreground colour at least ~100 levels away from the background. */
function contrasting(rng: RandomState, bg: readonly number[]): number[] {
  for (;;) {
    const c = randomColour(rng);
    if (Math.abs(c[0] - bg[0]) + Math.abs(c[1] - bg[1]) + Math.abs(c[2] - bg[2]) > 200) return c;
  }
}

/** Inside test for a shape centred at (cx, cy) with radius r and rotation theta, at pixel centre (x, y). */
function inside(shape: Shape, x: number, y: number, cx: number, cy: number, r: number, theta: number): boolean {
  const dx = x - cx;
  const dy = y - cy;
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  const u = c * dx + s * dy;
  const v = -s * dx + c * dy;
  if (shape === 'disc') {
    // a disc with a notch, so that rotation is visible
    return u * u + v * v <= r * r && !(u > r * 0.2 && Math.abs(v) < r * 0.35);
  }
  if (shape === 'square') return Math.abs(u) <= r * 0.85 && Math.abs(v) <= r * 0.5;
  // triangle pointing along +u
  return u >= -r * 0.6 && u <= r && Math.abs(v) <= ((r - u) / 1.6) * 0.9;
}

/**
 * Renders one clip of `cls` as RGB frames (no JPEG round trip). Deterministic for a seed.
 * @example const frames = renderSyntheticClip('left', { size: 32, frames: 8, seed: 3 }); frames.length // 8
 */
export function renderSyntheticClip(cls: SyntheticClass, opts: SyntheticClipOptions = {}): Image[] {
  const { size = 64, frames = 16, seed = 0, noise = 8 } = opts;
  if (!Number.isInteger(size) || size < 16) throw UsageError.expected('size', 'an integer >= 16', size);
  if (!Number.isInteger(frames) || frames < 2) throw UsageError.expected('frames', 'an integer >= 2', frames);
  const spec = SYNTHETIC_CLASSES[cls];
  if (!spec) throw UsageError.unsupported('class', cls, ALL_SYNTHETIC_CLASSES);
  const rng = new RandomState(seed >>> 0);
  const sceneRng = opts.sceneSeed === undefined ? rng : new RandomState(opts.sceneSeed >>> 0);
  const bg0 = randomColour(sceneRng);
  const bg1 = bg0.map((v) => Math.max(0, Math.min(255, v + sceneRng.randint(-60, 61))));
  const scene: Scene = {
    bg0,
    bg1,
    gradientVertical: sceneRng.random() < 0.5,
    fg: contrasting(sceneRng, bg0),
    shape: sceneRng.choice(['disc', 'square', 'triangle'] as const),
    distractor: { x: sceneRng.uniform(0, size), y: sceneRng.uniform(0, size), r: sceneRng.uniform(size * 0.05, size * 0.12), colour: randomColour(sceneRng) },
  };
  // canonical motion (the non-reversed class), as a function of t in [0, 1]
  const r0 = rng.uniform(size * 0.1, size * 0.18);
  const travel = rng.uniform(size * 0.3, size * 0.55);
  const along = rng.uniform(r0 + 1, size - r0 - 1 - travel);
  const across = rng.uniform(r0 + 1, size - r0 - 1);
  const theta0 = rng.uniform(0, 2 * Math.PI);
  const turn = rng.uniform(Math.PI / 2, Math.PI);
  const rSmall = rng.uniform(size * 0.06, size * 0.1);
  const rLarge = rng.uniform(size * 0.2, size * 0.3);
  const centre = [rng.uniform(size * 0.35, size * 0.65), rng.uniform(size * 0.35, size * 0.65)];
  // NOTE: drawn after the temporal-order task's values, so its clips are the same as before these motions existed
  const extra = NEW_MOTION_CLASSES.includes(cls) ? newMotionParams(rng, size, r0) : undefined;
  const pose = (t: number): { cx: number; cy: number; r: number; theta: number } => {
    switch (spec.motion) {
      case 'translate-x': return { cx: along + travel * t, cy: across, r: r0, theta: theta0 };
      case 'translate-y': return { cx: across, cy: along + travel * t, r: r0, theta: theta0 };
      case 'rotate': return { cx: centre[0], cy: centre[1], r: rLarge, theta: theta0 + turn * t };
      case 'scale': return { cx: centre[0], cy: centre[1], r: rSmall + (rLarge - rSmall) * t, theta: theta0 };
      default: return newMotionPose(spec.motion, extra as NewMotionParams, r0, theta0, t);
    }
  };
  const out: Image[] = [];
  for (let f = 0; f < frames; f++) out.push(renderFrame(size, scene, pose(f / (frames - 1)), rng, noise));
  // NOTE: the reversed class is the same clip backwards, so its frame set has the same distribution
  return spec.reversed ? out.reverse() : out;
}

/** Where and how far a new motion goes (see {@link NEW_MOTION_CLASSES}). */
interface NewMotionParams {
  readonly cx: number;
  readonly cy: number;
  /** Orbit radius, shake amplitude or bounce depth, in pixels. */
  readonly extent: number;
  /** Orbit start angle; shake and bounce phase. */
  readonly phase: number;
  /** Shake cycles per clip. */
  readonly cycles: number;
  /** +1 clockwise, -1 anticlockwise (orbit). */
  readonly turn: number;
}

function newMotionParams(rng: RandomState, size: number, r0: number): NewMotionParams {
  const extent = rng.uniform(size * 0.18, size * 0.28);
  const margin = r0 + 1;
  const mid = (lo: number, hi: number): number => (lo < hi ? rng.uniform(lo, hi) : size / 2);
  return {
    cx: mid(margin + extent, size - margin - extent),
    cy: mid(margin + extent * 0.5, size - margin - extent * 0.5),
    extent,
    phase: rng.uniform(0, 2 * Math.PI),
    cycles: rng.uniform(2, 3),
    turn: rng.random() < 0.5 ? 1 : -1,
  };
}

/** The pose of a new motion at time `t` in [0, 1]. */
function newMotionPose(motion: string, p: NewMotionParams, r: number, theta: number, t: number): { cx: number; cy: number; r: number; theta: number } {
  switch (motion) {
    case 'orbit': {
      const a = p.phase + p.turn * 2 * Math.PI * t;
      return { cx: p.cx + p.extent * Math.cos(a), cy: p.cy + p.extent * 0.5 * Math.sin(a), r, theta }; // an ellipse, twice as wide as high
    }
    case 'shake':
      return { cx: p.cx + p.extent * Math.sin(2 * Math.PI * p.cycles * t), cy: p.cy, r, theta };
    default: {
      // bounce: down to the lowest point at t = 0.5 and back up, as a ball thrown down and caught
      const depth = 1 - (2 * t - 1) ** 2;
      return { cx: p.cx, cy: p.cy - p.extent * 0.5 + p.extent * depth, r, theta };
    }
  }
}

function renderFrame(size: number, scene: Scene, p: { cx: number; cy: number; r: number; theta: number }, rng: RandomState, noise: number): Image {
  const data = new Uint8Array(size * size * 3);
  const { bg0, bg1, fg, distractor: d } = scene;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const t = (scene.gradientVertical ? y : x) / (size - 1);
      const px = x + 0.5;
      const py = y + 0.5;
      let col: readonly number[] | undefined;
      if (inside(scene.shape, px, py, p.cx, p.cy, p.r, p.theta)) col = fg;
      else if ((px - d.x) ** 2 + (py - d.y) ** 2 <= d.r * d.r) col = d.colour;
      const o = (y * size + x) * 3;
      for (let k = 0; k < 3; k++) {
        const base = col ? col[k] : bg0[k] + (bg1[k] - bg0[k]) * t;
        // cheap approximately-normal noise: sum of two uniforms, scaled to the requested spread
        const n = noise > 0 ? (rng.random() + rng.random() - 1) * noise * 2.45 : 0;
        data[o + k] = Math.max(0, Math.min(255, Math.round(base + n)));
      }
    }
  }
  return makeImage(size, size, 3, data);
}

/** Options of {@link syntheticBatch}. */
export interface SyntheticBatchOptions {
  /** @default ['left', 'right'] */
  readonly classes?: readonly SyntheticClass[];
  readonly batchSize: number;
  /** Segments sampled from each clip (segment centres, as validation). @default 8 */
  readonly numSegments?: number;
  /** Frames rendered per clip before sampling. @default 16 */
  readonly frames?: number;
  /** @default 32 */
  readonly size?: number;
  /** @default 0 */
  readonly seed?: number;
  /** @default ImageNet mean/std */
  readonly normalize?: NormalizeSpec;
}

/**
 * Renders a batch straight to tensors, for tests and demos that need temporal data without files: input
 * `[B, T*3, S, S]` (normalised as the loader's output) and int64 labels `[B]` (indices into `classes`).
 * @example const { input, labels } = syntheticBatch({ batchSize: 4, numSegments: 8, size: 32, seed: 1 });
 */
export function syntheticBatch(opts: SyntheticBatchOptions): { input: HostTensor<'float32'>; labels: HostTensor<'int64'> } {
  const { classes = ['left', 'right'], batchSize, numSegments = 8, frames = 16, size = 32, seed = 0, normalize = normalizationFor('RGB') } = opts;
  const per = numSegments * 3 * size * size;
  const data = new Float32Array(batchSize * per);
  const labels = new BigInt64Array(batchSize);
  const rng = new RandomState(seed >>> 0);
  for (let b = 0; b < batchSize; b++) {
    const label = rng.randint(classes.length);
    const clip = renderSyntheticClip(classes[label], { size, frames, seed: mixSeed(seed, b) });
    const picked = getValIndices(frames, { numSegments }).map((i) => clip[i - 1]);
    normalizeInto(picked, normalize, data, b * per);
    labels[b] = BigInt(label);
  }
  return { input: hostTensor('float32', [batchSize, numSegments * 3, size, size], data), labels: hostTensor('int64', [batchSize], labels) };
}

/** Options of {@link makeSyntheticDataset}. */
export interface MakeSyntheticOptions {
  /** @default {@link TEMPORAL_ORDER_CLASSES} */
  readonly classes?: readonly SyntheticClass[];
  /** Clips per class (train + val). */
  readonly clips: number;
  /** Frame size in pixels. @default 64 */
  readonly size?: number;
  /** Frames per clip. @default 16 */
  readonly frames?: number;
  /** @default 0 */
  readonly seed?: number;
  /** Fraction of each class's clips put in the validation list. @default 0.2 */
  readonly valFraction?: number;
  /** JPEG quality. @default 90 */
  readonly quality?: number;
  /** Called after each clip is written. */
  readonly onProgress?: (e: { readonly status: 'progress'; readonly done: number; readonly total: number }) => void;
}

/** What {@link makeSyntheticDataset} wrote. */
export interface SyntheticDatasetInfo {
  readonly dir: string;
  readonly classes: readonly SyntheticClass[];
  readonly train: readonly VideoRecord[];
  readonly val: readonly VideoRecord[];
}

/** Image template and list names of the standard layout. */
const LAYOUT = Object.freeze({ imageTmpl: 'img_{:05d}.jpg', frames: 'frames', categories: 'category.txt', train: 'train_videofolder.txt', val: 'val_videofolder.txt' });

/**
 * Writes a synthetic dataset in the standard layout: `frames/<class>/<clip>/img_00001.jpg...`, `category.txt`,
 * `train_videofolder.txt`, `val_videofolder.txt` and a `dataset.json` (usable as `--dataset OUT`). Horizontal flip
 * is marked off, since it would swap left and right. Each clip folder is written under a temporary name and
 * renamed when complete. Node only.
 * @throws {UsageError} for a bad option
 * @example await makeSyntheticDataset('/tmp/syn', { classes: ['left', 'right'], clips: 20, size: 32, frames: 8 });
 */
export async function makeSyntheticDataset(outDir: string, opts: MakeSyntheticOptions): Promise<SyntheticDatasetInfo> {
  const { classes = TEMPORAL_ORDER_CLASSES, clips, size = 64, frames = 16, seed = 0, valFraction = 0.2, quality = 90, onProgress } = opts;
  parseSyntheticClasses(classes);
  if (!Number.isInteger(clips) || clips < 1) throw UsageError.expected('clips', 'a positive integer', clips);
  if (!(valFraction >= 0 && valFraction < 1)) throw UsageError.expected('valFraction', 'a number in [0, 1)', valFraction);
  const train: VideoRecord[] = [];
  const val: VideoRecord[] = [];
  const jobs: { cls: SyntheticClass; label: number; j: number }[] = [];
  classes.forEach((cls, label) => { for (let j = 0; j < clips; j++) jobs.push({ cls, label, j }); });
  const nVal = Math.round(clips * valFraction);
  let done = 0;
  const runJob = async ({ cls, label, j }: (typeof jobs)[number]): Promise<void> => {
    const rel = `${cls}/${cls}_${String(j).padStart(5, '0')}`;
    const dir = join(outDir, LAYOUT.frames, rel);
    const tmp = `${dir}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    const images = renderSyntheticClip(cls, { size, frames, seed: mixSeed(seed, ALL_SYNTHETIC_CLASSES.indexOf(cls), j) });
    await Promise.all(images.map(async (img, f) => writeFile(join(tmp, formatTemplate(LAYOUT.imageTmpl, f + 1)), await encodeJpeg(img, quality))));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    (j < nVal ? val : train).push({ path: rel, numFrames: frames, label });
    onProgress?.({ status: 'progress', done: ++done, total: jobs.length });
  };
  const queue = [...jobs];
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await runJob(job);
  }));
  const order = (a: VideoRecord, b: VideoRecord): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  train.sort(order);
  val.sort(order);
  await writeFileAtomic(join(outDir, LAYOUT.categories), `${classes.join('\n')}\n`);
  await writeFileAtomic(join(outDir, LAYOUT.train), formatListFile(train));
  await writeFileAtomic(join(outDir, LAYOUT.val), formatListFile(val));
  const manifest: DatasetManifest = {
    name: 'synthetic',
    modality: 'RGB',
    categories: LAYOUT.categories,
    trainList: LAYOUT.train,
    valList: LAYOUT.val,
    root: LAYOUT.frames,
    imageTmpl: LAYOUT.imageTmpl,
    flip: false,
  };
  await writeFileAtomic(join(outDir, DATASET_MANIFEST), `${JSON.stringify({ ...manifest, size, frames, seed, clipsPerClass: clips }, null, 2)}\n`);
  return { dir: outDir, classes, train, val };
}
