/**
 * `evaluate`: test_models.py as a library call. Each model (an ensemble has several) is loaded with the
 * configuration its file name spells, its test videos are loaded with the test protocol's clips and crops, every
 * view goes through the model, the views of a video are averaged, the models are combined with their
 * coefficients, and the metrics are computed. Node only.
 */
import { basename, extname } from 'node:path';
import { DataLoader, resolveDataset } from '../data/index.js';
import { UsageError } from '../errors.js';
import { type TsnOverrides, TsnRunner, loadTsnCheckpoint } from '../models/load.js';
import type { TSN } from '../models/tsn.js';
import type { Device } from '../runtime/index.js';
import { positiveInt } from '../util/check.js';
import { type ProgressEvent, type ResolveWeightsOptions, checkpointLabels, resolveWeights } from '../zoo/index.js';
import { averageViews, combineScores, splitViews } from './aggregate.js';
import { type ClipRunner, loadOnnxTestModel } from './onnx-model.js';
import { AccuracyMeter, type Metrics, computeMetrics } from './metrics.js';
import { type ModelInput, type ResolvedProtocol, type TestProtocol, modelInputOf, resolveProtocol, viewsPerVideo } from './protocol.js';
import { SCORES_FORMAT, type ScoreModel, type ScoreRun, type ScoreSet, runIdOf } from './score-file.js';
import type { Shard } from './shard.js';
import { type TestSet, openTestSet } from './test-set.js';

/** One model of an evaluation. */
export interface TestModelSpec {
  /** Zoo name, URL or path (see {@link resolveWeights}). */
  readonly weights: string;
  /** Segments per clip (`--test_segments`). @default the file name's `segment<N>` */
  readonly testSegments?: number;
  /** Ensemble coefficient (`--coeff`). @default 1 */
  readonly coeff?: number;
  /** List file (`--test_list`). @default the dataset's validation list */
  readonly testList?: string;
  /** Configuration that wins over the file name (`--arch`, `--crop-fusion-type` as `consensusType`, ...). */
  readonly overrides?: TsnOverrides;
}

/** A model loaded for testing. */
export interface TestModel {
  /** The local checkpoint or exported `.onnx` file. */
  readonly path: string;
  /** The network of a checkpoint; undefined for an exported `.onnx`. */
  readonly model?: TSN;
  readonly numClass: number;
  readonly input: ModelInput;
  /** `resnet50, 8 segments, shift 1/8 blockres, avg, 400 classes`. */
  readonly summary: string;
  /**
   * Class names the model carries: an exported `.onnx` its metadata's, a checkpoint the `categories` it records or
   * its zoo dataset's (from the file name).
   */
  readonly labels?: readonly string[];
  /** A runner on onnxruntime (its sessions open on the first clips). */
  open(opts: { readonly device?: Device; readonly threads?: number }): ClipRunner;
}

/** Options of {@link loadTestModel}. */
export interface LoadTestModelOptions {
  /** Cache folder and download settings for zoo names and URLs. */
  readonly weightsOptions?: ResolveWeightsOptions;
  /** Announcements of defaults the configuration used. */
  readonly onNote?: (message: string) => void;
}

/** One line describing a model's configuration. */
export function describeModel(model: TSN): string {
  const c = model.config;
  const shift = c.isShift ? `shift 1/${c.shiftDiv} ${c.shiftPlace}` : 'no shift';
  const extras = [c.temporalPool ? 'temporal pool' : '', c.nonLocal ? 'non-local' : '', c.modality === 'Flow' ? `Flow x${c.newLength}` : ''].filter(Boolean);
  return `${c.baseModel}, ${c.numSegments} segments, ${shift}, ${c.consensusType}${extras.length ? `, ${extras.join(', ')}` : ''}, ${c.numClass} classes`;
}

/**
 * Resolves `spec.weights` (downloading a zoo model when needed) and loads it with `numSegments` from
 * `spec.testSegments`. Node only.
 * @throws {UsageError} {@link CheckpointError} as {@link loadTsnCheckpoint}; {@link DownloadError} from the zoo
 */
export async function loadTestModel(spec: TestModelSpec, opts: LoadTestModelOptions = {}): Promise<TestModel> {
  if (spec.testSegments !== undefined && (!Number.isInteger(spec.testSegments) || spec.testSegments < 1)) {
    throw UsageError.expected('testSegments', 'positive integers', spec.testSegments);
  }
  const path = await resolveWeights(spec.weights, opts.weightsOptions);
  if (extname(path).toLowerCase() === '.onnx') {
    // an exported model carries its configuration; the options that configure a checkpoint have nothing to change
    const given = Object.keys(spec.overrides ?? {});
    if (given.length > 0) throw new UsageError(`${basename(path)} is an exported model, configured by its own metadata; drop ${given.join(', ')}`, { options: given });
    const m = await loadOnnxTestModel(path, spec.testSegments);
    const labels = m.info.defaultLabels ? undefined : m.info.labels;
    return { path, numClass: m.info.numClasses, input: m.input, summary: m.summary, labels, open: (o) => m.open(o) };
  }
  const overrides: TsnOverrides = { ...spec.overrides, ...(spec.testSegments === undefined ? {} : { numSegments: spec.testSegments }) };
  const { model, meta } = await loadTsnCheckpoint(path, overrides, { onNote: opts.onNote });
  const numClass = model.config.numClass;
  const labels = checkpointLabels(path, meta, numClass);
  return { path, model, numClass, input: modelInputOf(model), summary: describeModel(model), labels, open: (o) => new TsnRunner(model, o) };
}

/** Progress of {@link evaluate}: plain objects for one callback. */
export type EvaluateEvent =
  /** A zoo download of model `model` (only for zoo names and URLs). */
  | { readonly status: 'weights'; readonly model: number; readonly event: ProgressEvent }
  /** Model `model` is loaded and its videos are listed. */
  | { readonly status: 'model'; readonly model: number; readonly path: string; readonly summary: string; readonly videos: number; readonly total: number; readonly dropped: number }
  /** A batch is done: running top-1 / top-5 in percent over the videos so far. */
  | { readonly status: 'progress'; readonly done: number; readonly total: number; readonly top1: number; readonly top5: number; readonly videosPerSecond: number };

/** Options of {@link evaluate}: the arguments of test_models.py. */
export interface EvaluateOptions extends TestProtocol {
  /** A dataset name of `src/data` (`something`, `kinetics`, ...), a registered one, or a folder with a `dataset.json`. */
  readonly dataset: string;
  /** Dataset root. @default $TSM_DATA_ROOT */
  readonly rootPath?: string;
  /** The models; several make an ensemble. */
  readonly models: readonly TestModelSpec[];
  /** Videos per batch. @default 1 */
  readonly batchSize?: number;
  /** Loader worker threads per model; 0 loads on the main thread. @default 2 */
  readonly workers?: number;
  /** Only the first `maxNum` videos; 0 or less for all. @default 0 */
  readonly maxNum?: number;
  /** Only this shard of the videos. */
  readonly shard?: Shard;
  /** @default 'cpu' */
  readonly device?: Device;
  /** onnxruntime threads; 0 lets it decide. @default 0 */
  readonly threads?: number;
  readonly weightsOptions?: Omit<ResolveWeightsOptions, 'onProgress'>;
  readonly onProgress?: (event: EvaluateEvent) => void;
  readonly onNote?: (message: string) => void;
}

/** What {@link evaluate} returns. */
export interface EvaluationResult {
  /** The ensemble's scores (the model's, for one model), for the videos evaluated. */
  readonly scores: ScoreSet;
  /** Each model's own scores, as a one-model run would give them (one entry for one model). */
  readonly members: readonly ScoreSet[];
  /** Metrics over the videos evaluated (one shard's, when sharded). */
  readonly metrics: Metrics;
  /** The models, as loaded. */
  readonly models: readonly Pick<TestModel, 'path' | 'summary'>[];
  readonly protocol: ResolvedProtocol;
}

/**
 * Evaluates one model or an ensemble on a dataset's test list, as test_models.py. Node only.
 * @returns scores (ensemble and per model), metrics, and what was loaded
 * @throws {UsageError} for an unknown dataset, bad options, or weights whose class count is not the dataset's
 * @throws {DataError} for a malformed list or missing frames; {@link CheckpointError} for weights that do not fit
 * @example
 * const { metrics } = await evaluate({
 *   dataset: 'something', rootPath: '/data',
 *   models: [{ weights: 'TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e45' }],
 *   testCrops: 3, twiceSample: true, batchSize: 8,
 * });
 * metrics.top1; // percent
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvaluationResult> {
  const protocol = resolveProtocol(opts);
  if (opts.models.length === 0) throw new UsageError('no weights to test: models is empty', { options: ['models'] });
  const batchSize = positiveInt('batchSize', opts.batchSize ?? 1);
  const workers = opts.workers ?? 2;
  if (!Number.isInteger(workers) || workers < 0) throw UsageError.expected('workers', 'a non-negative integer', workers);
  const coeffs = opts.models.map((m) => m.coeff ?? 1);
  coeffs.forEach((c) => {
    if (!Number.isFinite(c)) throw UsageError.expected('coeff', 'numbers', c);
  });
  const emit = opts.onProgress ?? (() => {});

  const loaded: TestModel[] = [];
  const sets: TestSet[] = [];
  let categories: readonly (string | null)[] = [];
  let datasetName = opts.dataset;
  for (const [k, spec] of opts.models.entries()) {
    const tm = await loadTestModel(spec, { onNote: opts.onNote, weightsOptions: { ...opts.weightsOptions, onProgress: (event) => emit({ status: 'weights', model: k, event }) } });
    const ds = resolveDataset(opts.dataset, tm.input.modality, { rootPath: opts.rootPath });
    if (tm.numClass !== ds.numClasses) {
      throw new UsageError(`${basename(tm.path)} predicts ${tm.numClass} classes but dataset ${ds.name} has ${ds.numClasses}; test it on its own dataset (or pass numClass for unnamed weights)`, { options: ['numClass'] });
    }
    const set = await openTestSet({ dataset: ds, listFile: spec.testList, input: tm.input, protocol, removeMissing: opts.models.length === 1, maxNum: opts.maxNum, shard: opts.shard });
    if (sets.length > 0) checkSameVideos(sets[0], set, k);
    loaded.push(tm);
    sets.push(set);
    categories = ds.categories;
    datasetName = ds.name;
    emit({ status: 'model', model: k, path: tm.path, summary: tm.summary, videos: set.videos.length, total: set.total, dropped: set.dropped });
  }

  const views = viewsPerVideo(protocol);
  const numClass = loaded[0].numClass;
  const n = sets[0].videos.length;
  const videos = sets[0].videos;
  const memberScores = loaded.map(() => new Float32Array(n * numClass));
  const ensemble = new Float32Array(n * numClass);
  const meter = new AccuracyMeter(numClass);
  const runners = loaded.map((tm) => tm.open({ device: opts.device, threads: opts.threads }));
  const loaders: DataLoader[] = [];
  const start = performance.now();
  try {
    for (const s of sets) loaders.push(await DataLoader.create(s.dataset, { batchSize, numWorkers: workers, shuffle: false }));
    const iters = loaders.map((l) => l.epoch(0));
    let done = 0;
    for (;;) {
      const next = await Promise.all(iters.map((it) => it.next()));
      if (next.some((r) => r.done)) break;
      const batches = next.map((r) => r.value as Exclude<typeof r.value, void>);
      const rows = batches[0].indices;
      const parts = await Promise.all(
        batches.map(async (b, k) => averageViews(await runners[k].logits(splitViews(b.input, views)), views, { softmax: protocol.softmax })),
      );
      parts.forEach((p, k) => rows.forEach((row, r) => memberScores[k].set(p.subarray(r * numClass, (r + 1) * numClass), row * numClass)));
      const combined = combineScores(parts, coeffs);
      rows.forEach((row, r) => ensemble.set(combined.subarray(r * numClass, (r + 1) * numClass), row * numClass));
      meter.update(combined, rows.map((row) => videos[row].label));
      done += rows.length;
      const secs = (performance.now() - start) / 1000;
      emit({ status: 'progress', done, total: n, top1: meter.top1, top5: meter.top5, videosPerSecond: secs > 0 ? done / secs : 0 });
    }
  } finally {
    await Promise.all(loaders.map((l) => l.close()));
    await Promise.all(runners.map((r) => r.release()));
  }

  const scoreType = protocol.softmax ? 'probabilities' : 'logits';
  const modelEntry = (k: number, coeff: number): ScoreModel => ({
    weights: basename(loaded[k].path),
    segments: loaded[k].input.numSegments,
    coeff,
    list: basename(sets[k].listFile),
  });
  const makeSet = (models: readonly ScoreModel[], scores: Float32Array): ScoreSet => {
    const run: ScoreRun = { kind: 'test', dataset: datasetName, models, protocol, maxNum: opts.maxNum && opts.maxNum > 0 ? opts.maxNum : null };
    const meta = { format: SCORES_FORMAT, runId: runIdOf(run), run, numClass, categories, scoreType, total: sets[0].total, shard: opts.shard ?? null, videos } as const;
    return { meta, scores };
  };
  const scores = makeSet(loaded.map((_, k) => modelEntry(k, coeffs[k])), ensemble);
  const members = loaded.length === 1 ? [scores] : loaded.map((_, k) => makeSet([modelEntry(k, 1)], memberScores[k]));
  return {
    scores,
    members,
    metrics: computeMetrics(ensemble, videos.map((v) => v.label), numClass, categories),
    models: loaded.map(({ path, summary }) => ({ path, summary })),
    protocol,
  };
}

/** test_models.py asserts the models' lists have one length; we also check the labels line up. */
function checkSameVideos(a: TestSet, b: TestSet, k: number): void {
  if (a.total !== b.total) {
    throw new UsageError(`model ${k} is tested on ${b.total} videos (${b.listFile}) but model 0 on ${a.total} (${a.listFile}); an ensemble's lists must have the same videos in the same order`);
  }
  const bad = a.videos.findIndex((v, i) => v.label !== b.videos[i].label);
  if (bad >= 0) {
    throw new UsageError(`model ${k}'s list ${b.listFile} gives video ${b.videos[bad].index} (${b.videos[bad].id}) label ${b.videos[bad].label}, model 0's list gives ${a.videos[bad].id} label ${a.videos[bad].label}; an ensemble's lists must have the same videos in the same order`);
  }
}
