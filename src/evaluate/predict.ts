/**
 * `predict`: class probabilities for videos (decoded with ffmpeg) and frame folders, sampled and cropped by the
 * test protocol, in batches. Node only.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { RandomState, TSNDataSet, buildTransforms, framePaths, groupToTensor, sampleVideoFrames } from '../data/index.js';
import { DataError, UsageError } from '../errors.js';
import type { Modality } from '../models/config.js';
import type { TsnOverrides } from '../models/load.js';
import type { Device } from '../runtime/index.js';
import { type HostTensor, hostTensor } from '../tensor/index.js';
import type { ProgressEvent, ResolveWeightsOptions } from '../zoo/index.js';
import { averageViews, splitViews } from './aggregate.js';
import { loadTestModel } from './evaluate.js';
import { className, scoreRow, topKIndices } from './metrics.js';
import { type ModelInput, type ResolvedProtocol, type TestProtocol, resolveProtocol, testTransforms, viewsPerVideo } from './protocol.js';
import { SCORES_FORMAT, type ScoreRun, type ScoreSet, type ScoredVideo, runIdOf } from './score-file.js';
import { type Shard, shardPositions } from './shard.js';

/** Frame file names: a prefix, a frame number, an image extension. */
const FRAME_NAME = /^(.*?)(\d+)(\.(?:jpe?g|png|bmp|webp))$/i;

/**
 * Works out the frame-name template of a frame folder from its file names: the largest family of names
 * `<prefix><number><.ext>` numbered 1..N (`img_{:05d}.jpg`, `{:06d}.jpg`, unpadded `{}.jpg`); for Flow the x/y
 * pair `flow_{}_{:05d}.jpg`.
 * @returns the template and the frame count
 * @throws {DataError} when no family is numbered 1..N without gaps
 * @example detectFrameTemplate(['img_00001.jpg', 'img_00002.jpg']) // { tmpl: 'img_{:05d}.jpg', numFrames: 2 }
 */
export function detectFrameTemplate(names: readonly string[], modality: Modality = 'RGB', where = 'the folder'): { tmpl: string; numFrames: number } {
  const families = new Map<string, { prefix: string; ext: string; numbers: string[] }>();
  for (const n of names) {
    const m = FRAME_NAME.exec(n);
    if (!m) continue;
    const key = `${m[1]}\0${m[3]}`;
    const f = families.get(key) ?? { prefix: m[1], ext: m[3], numbers: [] };
    f.numbers.push(m[2]);
    families.set(key, f);
  }
  const field = (numbers: readonly string[]): string | undefined => {
    const widths = new Set(numbers.map((s) => s.length));
    if (widths.size === 1 && numbers.some((s) => s.startsWith('0'))) return `{:0${numbers[0].length}d}`;
    if (!numbers.some((s) => s.startsWith('0') && s.length > 1)) return '{}';
    return undefined;
  };
  const candidates: { tmpl: string; numFrames: number; ok: boolean; detail: string }[] = [];
  for (const f of families.values()) {
    const fld = field(f.numbers);
    const nums = f.numbers.map(Number).sort((a, b) => a - b);
    const ok = fld !== undefined && nums[0] === 1 && nums[nums.length - 1] === nums.length && new Set(nums).size === nums.length;
    let prefix = f.prefix;
    if (modality === 'Flow') {
      // flow_x_00001.jpg + flow_y_00001.jpg -> flow_{}_{:05d}.jpg
      const at = f.prefix.lastIndexOf('x');
      if (at < 0 || !families.has(`${f.prefix.slice(0, at)}y${f.prefix.slice(at + 1)}\0${f.ext}`)) continue;
      prefix = `${f.prefix.slice(0, at)}{}${f.prefix.slice(at + 1)}`;
    }
    const tmpl = `${prefix}${fld ?? '{:d}'}${f.ext}`;
    candidates.push({ tmpl, numFrames: nums.length, ok, detail: `${f.prefix}*${f.ext}: ${nums.length} files numbered ${nums[0]}..${nums[nums.length - 1]}` });
  }
  candidates.sort((a, b) => Number(b.ok) - Number(a.ok) || b.numFrames - a.numFrames);
  const best = candidates[0];
  if (!best || !best.ok) {
    const seen = candidates.map((c) => c.detail).join('; ');
    throw new DataError(
      `cannot find ${modality === 'Flow' ? 'x/y flow' : ''} frames numbered 1..N in ${where}${seen ? ` (found ${seen})` : ' (no numbered image files)'}; name them like img_00001.jpg or pass tmpl`,
      { options: ['tmpl'] },
    );
  }
  return { tmpl: best.tmpl, numFrames: best.numFrames };
}

/** A clip ready for the model: `[V·T·C·L, H, W]` float32, views one after another. */
export interface InputClip {
  readonly input: HostTensor<'float32'>;
  /** 1-based segment indices sampled (clip after clip). */
  readonly indices: readonly number[];
  /** Frames the video or folder has. */
  readonly numFrames: number;
}

/** Options of {@link loadInputClip}. */
export interface LoadInputClipOptions {
  readonly input: ModelInput;
  readonly protocol?: TestProtocol;
  /** Frame-name template of frame folders. @default detected from the file names */
  readonly tmpl?: string;
}

/**
 * Loads a video file (through ffmpeg) or a frame folder as the test protocol views it. Node only.
 * @throws {UsageError} when the input does not exist; {@link DataError} when it cannot be decoded
 */
export async function loadInputClip(path: string, opts: LoadInputClipOptions): Promise<InputClip> {
  const { input, protocol = {} } = opts;
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new UsageError(`input ${path} does not exist; expected a video file or a folder of frames`);
  const transform = testTransforms(protocol, input);
  if (st.isDirectory()) {
    const dir = resolve(path);
    let tmpl = opts.tmpl;
    let numFrames: number;
    if (tmpl === undefined) ({ tmpl, numFrames } = detectFrameTemplate(await readdir(dir), input.modality, dir));
    else numFrames = countFrames(dir, tmpl, input.modality);
    if (numFrames === 0) throw new DataError(`no frames in ${dir} match ${tmpl} (counting from 1)`);
    const ds = new TSNDataSet({
      rootPath: dirname(dir),
      records: [{ path: basename(dir), numFrames, label: 0 }],
      numSegments: input.numSegments,
      newLength: input.newLength,
      modality: input.modality,
      imageTmpl: tmpl,
      transform,
      normalize: input.normalize,
      randomShift: false,
      testMode: true,
      denseSample: protocol.denseSample ?? false,
      twiceSample: protocol.twiceSample ?? false,
    });
    const item = await ds.getItem(0);
    return { input: item.input, indices: item.indices, numFrames };
  }
  if (input.modality !== 'RGB') throw new UsageError(`${path}: a ${input.modality} model needs a folder of flow frames, not a video file`);
  const sample = await sampleVideoFrames(path, {
    numSegments: input.numSegments,
    newLength: input.newLength,
    mode: 'test',
    denseSample: protocol.denseSample ?? false,
    twiceSample: protocol.twiceSample ?? false,
  });
  const group = await buildTransforms(transform).apply(sample.frames, new RandomState(0));
  return { input: groupToTensor(group, input.normalize), indices: sample.indices, numFrames: sample.numFrames };
}

/** Frames 1, 2, ... that exist in `dir` under `tmpl`. */
function countFrames(dir: string, tmpl: string, modality: Modality): number {
  let n = 0;
  while (framePaths(dirname(dir), basename(dir), tmpl, modality, n + 1).every((p) => existsSync(p))) n++;
  return n;
}

/** One class of a prediction. */
export interface PredictedClass {
  readonly index: number;
  readonly label: string;
  readonly probability: number;
}

/** The best classes of one input. */
export interface Prediction {
  readonly input: string;
  readonly top: readonly PredictedClass[];
}

/** Progress of {@link predict}. */
export type PredictEvent =
  | { readonly status: 'weights'; readonly event: ProgressEvent }
  | { readonly status: 'model'; readonly path: string; readonly summary: string; readonly inputs: number }
  | { readonly status: 'progress'; readonly done: number; readonly total: number; readonly videosPerSecond: number };

/** Options of {@link predict}. */
export interface PredictOptions extends Omit<TestProtocol, 'softmax'> {
  /** Zoo name, URL or path. */
  readonly weights: string;
  /** @default the file name's `segment<N>` */
  readonly testSegments?: number;
  readonly overrides?: TsnOverrides;
  /** Class names, one per class. @default the model's own (an exported model's metadata, a checkpoint's recorded categories or its zoo dataset's), else `class 0`, `class 1`, ... */
  readonly labels?: readonly string[];
  /** Where `labels` came from, named when their count is wrong (`--labels names.txt`). */
  readonly labelsSource?: string;
  /** Classes listed per input. @default 5 */
  readonly topK?: number;
  /** Inputs per model run. @default 4 */
  readonly batchSize?: number;
  /** Frame-name template of frame folders. @default detected per folder */
  readonly tmpl?: string;
  /** Only every n-th input. */
  readonly shard?: Shard;
  /** @default 'cpu' */
  readonly device?: Device;
  readonly threads?: number;
  readonly weightsOptions?: Omit<ResolveWeightsOptions, 'onProgress'>;
  readonly onProgress?: (event: PredictEvent) => void;
  readonly onNote?: (message: string) => void;
}

/** What {@link predict} returns. */
export interface PredictResult {
  /** One per input of the shard, in input order. */
  readonly predictions: readonly Prediction[];
  /** Probabilities `[inputs, num_class]`, as a score file holds them (labels -1). */
  readonly scores: ScoreSet;
  readonly model: { readonly path: string; readonly summary: string };
  readonly protocol: ResolvedProtocol;
}

/** The top-k classes of each row of a probability matrix. */
export function topPredictions(set: ScoreSet, k: number): Prediction[] {
  const n = set.meta.numClass;
  return set.meta.videos.map((v, i) => {
    const row = scoreRow(set.scores, n, i);
    return { input: v.id, top: topKIndices(row, Math.min(k, n)).map((c) => ({ index: c, label: className(set.meta.categories, c), probability: row[c] })) };
  });
}

/**
 * Predicts the classes of videos and frame folders: each is sampled as `tsm test` samples (segment centres; two
 * clips with `twiceSample`, ten with `denseSample`; 1/3/5/10 crops), the views are averaged and turned into
 * probabilities. Node only.
 * @param inputs video files and frame folders
 * @throws {UsageError} for a missing input, labels of the wrong count, bad options
 * @throws {DataError} for an input that cannot be decoded; {@link CheckpointError} for unusable weights
 * @example
 * const { predictions } = await predict(['clip.mp4'], { weights: 'TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50' });
 * predictions[0].top[0]; // { index, label, probability }
 */
export async function predict(inputs: readonly string[], opts: PredictOptions): Promise<PredictResult> {
  const protocol = resolveProtocol({ ...opts, softmax: true });
  if (inputs.length === 0) throw new UsageError('no inputs: pass video files or frame folders');
  const topK = opts.topK ?? 5;
  const batchSize = opts.batchSize ?? 4;
  for (const [name, v] of [['topK', topK], ['batchSize', batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw UsageError.expected(name, 'a positive integer', v);
  }
  const emit = opts.onProgress ?? (() => {});
  const tm = await loadTestModel(
    { weights: opts.weights, testSegments: opts.testSegments, overrides: opts.overrides },
    { onNote: opts.onNote, weightsOptions: { ...opts.weightsOptions, onProgress: (event) => emit({ status: 'weights', event }) } },
  );
  const numClass = tm.numClass;
  if (opts.labels && opts.labels.length !== numClass) {
    const from = opts.labelsSource === undefined ? '' : ` in ${opts.labelsSource}`;
    throw new UsageError(`${opts.labels.length} labels${from} for a model with ${numClass} classes (${basename(tm.path)}); give one name per class, in class order`);
  }
  const positions = shardPositions(inputs.length, opts.shard);
  emit({ status: 'model', path: tm.path, summary: tm.summary, inputs: positions.length });
  const views = viewsPerVideo(protocol);
  const scores = new Float32Array(positions.length * numClass);
  const runner = tm.open({ device: opts.device, threads: opts.threads });
  const load = (from: number): Promise<InputClip[]> =>
    Promise.all(positions.slice(from, from + batchSize).map((p) => loadInputClip(inputs[p], { input: tm.input, protocol, tmpl: opts.tmpl })));
  const start = performance.now();
  try {
    let pending = positions.length > 0 ? load(0) : undefined;
    for (let from = 0; from < positions.length; from += batchSize) {
      const clips = await (pending as Promise<InputClip[]>);
      pending = from + batchSize < positions.length ? load(from + batchSize) : undefined;
      pending?.catch(() => undefined); // surfaced when awaited
      const [c, h, w] = clips[0].input.shape;
      const batch = new Float32Array(clips.length * c * h * w);
      clips.forEach((clip, i) => batch.set(clip.input.data, i * c * h * w));
      const probs = averageViews(await runner.logits(splitViews(hostTensor('float32', [clips.length, c, h, w], batch), views)), views, { softmax: true });
      scores.set(probs, from * numClass);
      const done = from + clips.length;
      const secs = (performance.now() - start) / 1000;
      emit({ status: 'progress', done, total: positions.length, videosPerSecond: secs > 0 ? done / secs : 0 });
    }
  } finally {
    await runner.release();
  }
  const run: ScoreRun = {
    kind: 'predict',
    dataset: null,
    // the inputs' digest keeps predictions over different inputs from merging as shards of one run
    models: [{ weights: basename(tm.path), segments: tm.input.numSegments, coeff: 1, list: `inputs:${createHash('sha256').update(inputs.join('\n')).digest('hex').slice(0, 12)}` }],
    protocol,
    maxNum: null,
  };
  const videos: ScoredVideo[] = positions.map((p) => ({ index: p, id: inputs[p], label: -1 }));
  const set: ScoreSet = {
    meta: { format: SCORES_FORMAT, runId: runIdOf(run), run, numClass, categories: opts.labels ?? tm.labels ?? new Array<null>(numClass).fill(null), scoreType: 'probabilities', total: inputs.length, shard: opts.shard ?? null, videos },
    scores,
  };
  return { predictions: topPredictions(set, topK), scores: set, model: { path: tm.path, summary: tm.summary }, protocol };
}
