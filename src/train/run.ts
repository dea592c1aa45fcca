/**
 * A whole training run as TSM's main.py does it: dataset lists, TSN with the requested options, ImageNet (or
 * scratch / file) weights, `--tune_from`, `--resume`, per-epoch lr schedule, training with partial BN and
 * clipping, validation every `evalFreq` epochs, and `ckpt.pth.tar` / `ckpt.best.pth.tar` under
 * `<rootModel>/<storeName>/`, with `log.csv`, `log.jsonl` and loss / accuracy curves (`curves.html`, `curves.png`,
 * redrawn after every epoch) under `<rootLog>/<storeName>/` (see ./log.ts). Reports through one callback; nothing
 * prints. Node only.
 *
 * A resumed run (`resume`) repeats the uninterrupted one exactly: batches and augmentation come from (seed,
 * epoch, clip), dropout masks from (seed, epoch, iteration), and the checkpoint restores weights, BatchNorm
 * statistics, momentum buffers and the epoch the lr schedule is computed from.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type CheckpointContents, extractStateDict, readPth, stripPrefix } from '../checkpoint/index.js';
import { DataLoader, type DataLoaderOptions, type DatasetConfig, MIN_FRAMES, TSNDataSet, type TSNDataSetOptions, resolveDataset, trainAugmentation, valCropping } from '../data/index.js';
import { CheckpointError, DataError, UsageError } from '../errors.js';
import type { Modality } from '../models/config.js';
import type { ConsensusType } from '../models/consensus.js';
import { TsnRunner } from '../models/load.js';
import type { ShiftMode, ShiftPlace } from '../models/temporal-shift.js';
import { TSN } from '../models/tsn.js';
import { Conv2d } from '../nn/index.js';
import type { Device } from '../runtime/index.js';
import type { HostTensor } from '../tensor/index.js';
import { mapImagenetStateDict, resolvePretrain } from '../zoo/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { initWeights } from './init.js';
import { TrainLog } from './log.js';
import { lockRunFolders, runFolders, saveRunCheckpoint } from './run-files.js';
import type { LrType } from './schedule.js';
import { type EpochStats, type TrainEvent, Trainer, accuracy } from './trainer.js';

/** Options of {@link trainTsn}: main.py's arguments in camelCase. */
export interface TrainRunOptions {
  /** Dataset name (`something`, `kinetics`, ...) or a folder with a `dataset.json`. */
  readonly dataset: string;
  readonly modality: Modality;
  /** Dataset root (`ROOT_DATASET`). @default $TSM_DATA_ROOT */
  readonly rootPath?: string;
  /** Override the dataset's list files. */
  readonly trainList?: string;
  readonly valList?: string;
  /** @default 'BNInception' (opts.py) */
  readonly arch?: string;
  /** @default 3 */
  readonly numSegments?: number;
  /** @default 'avg' */
  readonly consensusType?: ConsensusType;
  /** @default 0.5 */
  readonly dropout?: number;
  /** @default false */
  readonly shift?: boolean;
  /** @default 8 */
  readonly shiftDiv?: number;
  /** @default 'blockres' */
  readonly shiftPlace?: ShiftPlace;
  /**
   * `online` (`--online-shift`): a uni-directional shift, only from past frames, so the trained MobileNetV2 runs
   * frame by frame in the online step model (`toOnlineStateDict`, `tsm export --online`) with the same outputs.
   * Marked by `_online` in the store name and `shift_mode: 'online'` in the checkpoint. @default 'bidirectional'
   */
  readonly shiftMode?: ShiftMode;
  /** @default false */
  readonly temporalPool?: boolean;
  /** @default false */
  readonly nonLocal?: boolean;
  /** @default false */
  readonly denseSample?: boolean;
  /** `imagenet`, `scratch`, or a weights file / URL / zoo name. @default 'imagenet' */
  readonly pretrain?: string;
  /** Fine-tune from a TSM checkpoint (`--tune_from`). */
  readonly tuneFrom?: string;
  /** @default 120 */
  readonly epochs?: number;
  /** @default 128 */
  readonly batchSize?: number;
  /** @default 0.001 */
  readonly lr?: number;
  /** @default 'step' */
  readonly lrType?: LrType;
  /** @default [50, 100] */
  readonly lrSteps?: readonly number[];
  /** @default 0.9 */
  readonly momentum?: number;
  /** @default 5e-4 */
  readonly weightDecay?: number;
  /** @default 20; null disables clipping */
  readonly clipGradient?: number | null;
  /** @default true (`--no_partialbn` sets false) */
  readonly partialBn?: boolean;
  /** Validate every this many epochs (and after the last). @default 5 */
  readonly evalFreq?: number;
  /** Loader worker threads. @default 8 */
  readonly workers?: number;
  /** Resume from a checkpoint written by a run (weights, optimizer, epoch, best_prec1). */
  readonly resume?: string;
  /** Only validate. @default false */
  readonly evaluate?: boolean;
  /** @default 0, or the resumed checkpoint's epoch */
  readonly startEpoch?: number;
  /** @default 'log' */
  readonly rootLog?: string;
  /** @default 'checkpoint' */
  readonly rootModel?: string;
  /** Appended to the store name. */
  readonly suffix?: string;
  /** Seed of shuffling, augmentation, dropout-free init. @default 0 */
  readonly seed?: number;
  /** Crop size (our addition; main.py always uses the backbone's, 224). @default the model's input size */
  readonly inputSize?: number;
  /**
   * The classifier's lr x5 (weight) and x10 (bias) groups (`fc_lr5` of ops/models.py). main.py turns them on unless
   * `--tune_from` names a checkpoint of the same dataset; from scratch they can slow the start of training, so
   * `--no-fc-lr5` (our addition) turns them off. @default main.py's rule
   */
  readonly fcLr5?: boolean;
  /** MobileNetV2 channel multiplier (our addition; main.py always builds width 1). @default 1 */
  readonly widthMult?: number;
  /** @default 'cpu' */
  readonly device?: Device;
  /** onnxruntime threads; 0 lets it decide. @default 0 */
  readonly threads?: number;
}

/** Events of a run: the trainer's, plus notes, validation results and saved checkpoints. */
export type RunEvent =
  | TrainEvent
  | { readonly status: 'note'; readonly message: string }
  | { readonly status: 'validate'; readonly epoch: number; readonly loss: number; readonly top1: number; readonly top5: number; readonly batches: number }
  | { readonly status: 'checkpoint'; readonly path: string; readonly best: boolean };

/** What {@link trainTsn} returns. */
export interface TrainRunResult {
  readonly storeName: string;
  readonly bestPrec1: number;
  /** The last checkpoint written (undefined with `evaluate`). */
  readonly checkpoint?: string;
  /** Validation precision@1 of the last validation. */
  readonly lastPrec1?: number;
}

/**
 * main.py's `store_name`: `TSM_<dataset>_<modality>_<arch>[_shift8_blockres][_online][_tpool]_<consensus>_segment8_e50...`.
 * `_online` (our addition) marks an online shift; `parseCheckpointName` reads it back.
 */
export function storeName(o: TrainRunOptions, datasetName: string): string {
  let arch = o.arch ?? 'BNInception';
  if (o.shift) arch += `_shift${o.shiftDiv ?? 8}_${o.shiftPlace ?? 'blockres'}`;
  if (o.shift && o.shiftMode === 'online') arch += '_online';
  if (o.temporalPool) arch += '_tpool';
  let name = ['TSM', datasetName, o.modality, arch, o.consensusType ?? 'avg', `segment${o.numSegments ?? 3}`, `e${o.epochs ?? 120}`].join('_');
  if ((o.pretrain ?? 'imagenet') !== 'imagenet') name += `_${o.pretrain}`;
  if ((o.lrType ?? 'step') !== 'step') name += `_${o.lrType}`;
  if (o.denseSample) name += '_dense';
  if (o.nonLocal) name += '_nl';
  if (o.suffix) name += `_${o.suffix}`;
  return name;
}

/** Mean cross-entropy of `logits` `[B, C]` against `labels`, in float64. */
function crossEntropyOf(logits: HostTensor, labels: HostTensor): number {
  const [b, c] = logits.shape;
  const d = logits.data as Float32Array;
  let sum = 0;
  for (let i = 0; i < b; i++) {
    let max = -Infinity;
    for (let j = 0; j < c; j++) max = Math.max(max, d[i * c + j]);
    let z = 0;
    for (let j = 0; j < c; j++) z += Math.exp(d[i * c + j] - max);
    sum += max + Math.log(z) - d[i * c + Number(labels.data[i])];
  }
  return sum / b;
}

/**
 * main.py `--tune_from`: load a TSM checkpoint, matching keys with and without `.net`, dropping fc for a new dataset
 * and the first conv's weight for a Flow model from an RGB checkpoint.
 */
function tuneFromStateDict(model: TSN, sd: Map<string, HostTensor>, o: TrainRunOptions, datasetName: string, note: (m: string) => void): Map<string, HostTensor> {
  const own = model.stateDict();
  const out = new Map(sd);
  for (const k of [...out.keys()]) {
    if (!own.has(k) && own.has(k.replace('.net', ''))) {
      out.set(k.replace('.net', ''), out.get(k)!);
      out.delete(k);
    }
  }
  for (const k of own.keys()) {
    if (!out.has(k) && out.has(k.replace('.net', ''))) {
      out.set(k, out.get(k.replace('.net', ''))!);
      out.delete(k.replace('.net', ''));
    }
  }
  const failed = [...new Set([...out.keys()].filter((k) => !own.has(k)).concat([...own.keys()].filter((k) => !out.has(k))))];
  if (failed.length > 0) note(`keys that failed to load: ${failed.slice(0, 8).join(', ')}${failed.length > 8 ? ', ...' : ''}`);
  const tune = o.tuneFrom ?? '';
  if (!tune.includes(datasetName)) {
    note('new dataset, do not load fc weights');
    for (const k of [...out.keys()]) if (k.includes('fc')) out.delete(k);
  }
  if (o.modality === 'Flow' && !tune.includes('Flow')) {
    // An RGB checkpoint's first conv takes 3 channels, this model's 2 * new_length (`_construct_flow_model`), so its
    // weight stays as built. main.py matches `'conv1.weight' in k`, which is ResNet's first conv but also every
    // block's conv1 of an unshifted ResNet, and misses BNInception's and MobileNetV2's first convs (they then fail
    // to load); this drops exactly the first conv's weight. Its bias has one value per output channel and loads.
    const first = model.namedModules().find(([, m]) => m instanceof Conv2d)?.[0];
    if (first !== undefined && out.delete(`${first}.weight`)) note(`RGB checkpoint into a Flow model: ${first}.weight is not loaded`);
  }
  const merged = new Map(own);
  for (const [k, v] of out) if (own.has(k)) merged.set(k, v);
  return merged;
}

/**
 * Adds the class names as a `categories` entry (a list of str, which `torch.load` reads as it reads `arch`), so the
 * checkpoint labels its own scores; a dataset that has only a class count (kinetics) records none.
 */
function withCategories(ckpt: CheckpointContents, categories: readonly (string | null)[]): CheckpointContents {
  if (!categories.every((c): c is string => typeof c === 'string')) return ckpt;
  return { ...ckpt, meta: { ...ckpt.meta, categories: [...categories] } };
}

/**
 * The options a run reads, with main.py's defaults filled in. Options the trainer defaults itself (`lrType`,
 * `momentum`, `weightDecay`, `clipGradient`) and `args.txt` (the options as given) read {@link TrainRunOptions}.
 */
interface ResolvedRun {
  readonly ds: DatasetConfig;
  readonly name: string;
  readonly arch: string;
  readonly seed: number;
  readonly epochs: number;
  readonly evalFreq: number;
  readonly partialBn: boolean;
  readonly loading: { readonly batchSize: number; readonly numWorkers: number; readonly seed: number };
}

function resolveRun(o: TrainRunOptions): ResolvedRun {
  const ds = resolveDataset(o.dataset, o.modality, { rootPath: o.rootPath });
  const seed = o.seed ?? 0;
  return {
    ds,
    name: storeName(o, ds.name),
    arch: o.arch ?? 'BNInception',
    seed,
    epochs: o.epochs ?? 120,
    evalFreq: o.evalFreq ?? 5,
    partialBn: o.partialBn ?? true,
    loading: { batchSize: o.batchSize ?? 128, numWorkers: o.workers ?? 8, seed },
  };
}

/** The TSN the options describe, at its seeded initialisation. */
function buildModel(o: TrainRunOptions, r: ResolvedRun): TSN {
  const model = new TSN({
    numClass: r.ds.numClasses,
    numSegments: o.numSegments ?? 3,
    modality: o.modality,
    baseModel: r.arch,
    consensusType: o.consensusType ?? 'avg',
    dropout: o.dropout ?? 0.5,
    partialBn: r.partialBn,
    isShift: o.shift ?? false,
    shiftDiv: o.shiftDiv ?? 8,
    shiftPlace: o.shiftPlace ?? 'blockres',
    shiftMode: o.shiftMode,
    fcLr5: o.fcLr5 ?? !(o.tuneFrom && o.tuneFrom.includes(r.ds.name)),
    temporalPool: o.temporalPool ?? false,
    nonLocal: o.nonLocal ?? false,
    widthMult: o.widthMult,
  });
  initWeights(model, r.seed);
  return model;
}

/** Loads the pretrained (ImageNet, file) weights, then `--tune_from`'s, over the initialised model. */
async function loadInitialWeights(model: TSN, o: TrainRunOptions, r: ResolvedRun, note: (m: string) => void): Promise<void> {
  const pretrain = await resolvePretrain(o.pretrain ?? 'imagenet', r.arch);
  if (pretrain.kind !== 'scratch') {
    const { stateDict } = extractStateDict(await readPth(pretrain.path));
    const mapped = mapImagenetStateDict(stripPrefix(stateDict, 'module.'), new Map([...model.stateDict()].map(([k, t]) => [k, t.shape])), {
      modality: o.modality,
      newLength: model.config.newLength,
      lastLayerName: model.base_model.lastLayerName,
    });
    const merged = model.stateDict();
    for (const [k, t] of mapped.stateDict) merged.set(k, t);
    model.loadStateDict(merged, { source: pretrain.path });
    note(`pretrained ${pretrain.kind === 'imagenet' ? 'ImageNet ' : ''}weights from ${pretrain.path}: ${mapped.stateDict.size} tensors, ${mapped.missing.length} left at init`);
  }
  if (o.tuneFrom) {
    note(`fine-tuning from '${o.tuneFrom}'`);
    const { stateDict } = extractStateDict(await readPth(o.tuneFrom));
    model.loadStateDict(tuneFromStateDict(model, stripPrefix(stateDict, 'module.'), o, r.ds.name, note), { source: o.tuneFrom });
  }
}

/**
 * `--resume`: the checkpoint's weights, BatchNorm statistics and momentum buffers, and the epoch and best
 * precision the run goes on from.
 */
async function resumeRun(model: TSN, trainer: Trainer, path: string, startEpoch: number | undefined, note: (m: string) => void): Promise<{ startEpoch: number; bestPrec1: number }> {
  const { stateDict, meta } = extractStateDict(await readPth(path));
  model.loadStateDict(stripPrefix(stateDict, 'module.'), { source: path });
  if (meta.optimizer === undefined) throw new CheckpointError('TSM_CHECKPOINT_KEY_MISSING', `resume ${path} has no "optimizer" entry; use tuneFrom to start from its weights`, { options: ['resume', 'tuneFrom'] });
  trainer.loadOptimizerState(meta.optimizer, path);
  const epoch = startEpoch ?? meta.epoch ?? 0;
  note(`loaded checkpoint '${path}' (epoch ${epoch})`);
  return { startEpoch: epoch, bestPrec1: meta.best_prec1 ?? 0 };
}

/**
 * Opens and checks both lists (lines, labels against the model's classes, frame folders) before any loader starts
 * its worker threads; without a training run (`evaluate`) only the validation list.
 */
async function openLists(model: TSN, o: TrainRunOptions, r: ResolvedRun): Promise<{ valSet: TSNDataSet; trainSet?: TSNDataSet }> {
  const { ds } = r;
  const normalize = { mean: [...model.inputMean], std: [...model.inputStd], div: model.inputRange === 1, roll: model.config.baseModel === 'BNInception' };
  const common = {
    rootPath: ds.rootPath,
    numSegments: model.config.numSegments,
    newLength: model.config.newLength,
    modality: o.modality,
    imageTmpl: ds.imageTmpl,
    normalize,
    denseSample: o.denseSample ?? false,
  };
  const cropSize = o.inputSize ?? model.inputSize;
  const openList = async (dataset: TSNDataSetOptions & { readonly listFile: string }): Promise<TSNDataSet> => {
    const set = await TSNDataSet.open({ ...dataset, numClasses: ds.numClasses });
    if (set.length === 0) throw new DataError(`${dataset.listFile} lists no videos${set.dropped.length > 0 ? ` with ${MIN_FRAMES} frames or more (${set.dropped.length} dropped)` : ''}`);
    return set;
  };
  const valSet = await openList({ ...common, listFile: o.valList ?? ds.valList, randomShift: false, transform: valCropping({ cropSize, scaleSize: Math.floor((cropSize * 256) / 224) }) });
  const trainSet = o.evaluate ? undefined : await openList({ ...common, listFile: o.trainList ?? ds.trainList, transform: trainAugmentation({ modality: o.modality, inputSize: cropSize, flip: ds.flip }) });
  return { valSet, trainSet };
}

/** Validation loss and precisions (percent), weighted by batch size, and the number of batches. */
interface Validation {
  readonly loss: number;
  readonly top1: number;
  readonly top5: number;
  readonly batches: number;
}

/**
 * One pass over the validation loader in eval mode. evaluate()'s loop is not used: it scores models loaded from
 * files, averages views per video and reports class-mean accuracy without a loss, where main.py's validate
 * reports the batch-weighted cross-entropy and precisions of the model being trained.
 */
async function validate(model: TSN, val: DataLoader, o: TrainRunOptions): Promise<Validation> {
  model.eval();
  const runner = new TsnRunner(model, { device: o.device, threads: o.threads });
  let loss = 0;
  let top1 = 0;
  let top5 = 0;
  let n = 0;
  let batches = 0;
  try {
    for await (const b of val.epoch(0)) {
      const logits = await runner.logits(b.input);
      const k = b.input.shape[0];
      loss += crossEntropyOf(logits, b.labels) * k;
      top1 += accuracy(logits, b.labels, 1) * k;
      top5 += accuracy(logits, b.labels, 5) * k;
      n += k;
      batches++;
    }
  } finally {
    await runner.release();
  }
  return { loss: loss / n, top1: top1 / n, top5: top5 / n, batches };
}

/**
 * Runs main.py's training loop.
 * @throws {UsageError} for bad options; {@link CheckpointError} for unusable weights; DataError for broken data;
 *   LockError (`TSM_LOCKED`) when another run is writing to the same run folders
 * @example
 * await trainTsn({ dataset: 'something', modality: 'RGB', arch: 'resnet50', numSegments: 8, shift: true, lr: 0.01,
 *   lrSteps: [20, 40], epochs: 50, batchSize: 64, dropout: 0.8 }, (e) => console.log(e));
 */
export async function trainTsn(o: TrainRunOptions, onEvent: (e: RunEvent) => void = () => {}): Promise<TrainRunResult> {
  if (o.evaluate) return runTraining(o, onEvent);
  // One run per folder, taken before any work so that a second run is refused at once and writes nothing.
  const { logDir, modelDir } = runFolders(o, storeName(o, resolveDataset(o.dataset, o.modality, { rootPath: o.rootPath }).name));
  const folders = await lockRunFolders([modelDir, logDir]);
  try {
    return await runTraining(o, onEvent);
  } finally {
    await folders.release();
  }
}

/** {@link trainTsn} once the run folders are this process's (or, with `evaluate`, none are written). */
async function runTraining(o: TrainRunOptions, onEvent: (e: RunEvent) => void): Promise<TrainRunResult> {
  const note = (message: string) => onEvent({ status: 'note', message });
  const r = resolveRun(o);
  const { ds, name, arch } = r;
  note(`storing name: ${name}`);
  const model = buildModel(o, r);
  await loadInitialWeights(model, o, r, note);

  let log: TrainLog | undefined;
  const trainer = new Trainer(model, {
    lr: o.lr ?? 0.001,
    lrType: o.lrType,
    lrSteps: o.lrSteps ?? [50, 100],
    epochs: r.epochs,
    momentum: o.momentum,
    weightDecay: o.weightDecay,
    clipGradient: o.clipGradient,
    partialBn: r.partialBn,
    device: o.device,
    threads: o.threads,
    seed: r.seed,
    onProgress: (e) => {
      if (e.status === 'step') log?.record({ type: 'step', epoch: e.epoch, iter: e.iter, loss: e.loss, top1: e.top1, top5: e.top5, gradNorm: e.gradNorm, lr: e.lr, samples: e.samples, ms: e.ms });
      onEvent(e);
    },
  });
  let startEpoch = o.startEpoch ?? 0;
  let bestPrec1 = 0;
  if (o.resume) ({ startEpoch, bestPrec1 } = await resumeRun(model, trainer, o.resume, o.startEpoch, note));

  const { valSet, trainSet } = await openLists(model, o, r);
  // Every loader started is closed on every way out, errors included: its worker threads would keep the process
  // alive after the error has been reported.
  const loaders: DataLoader[] = [];
  const start = async (set: TSNDataSet, options: DataLoaderOptions): Promise<DataLoader> => {
    const loader = await DataLoader.create(set, options);
    loaders.push(loader);
    return loader;
  };
  try {
    const val = await start(valSet, r.loading);
    const validateAt = async (epoch: number): Promise<number> => {
      const { batches, ...res } = await validate(model, val, o);
      log?.record({ type: 'val', epoch, ...res });
      onEvent({ status: 'validate', epoch, ...res, batches });
      return res.top1;
    };

    if (!trainSet) {
      // --evaluate
      const prec1 = await validateAt(startEpoch);
      return { storeName: name, bestPrec1: prec1, lastPrec1: prec1 };
    }

    const train = await start(trainSet, { ...r.loading, shuffle: true, dropLast: true });
    if (train.length === 0) throw new UsageError(`the training list has ${train.dataset.length} clips, fewer than one batch of ${r.loading.batchSize} (the last partial batch is dropped, as main.py does)`);
    const { logDir, modelDir } = runFolders(o, name);
    const trainLog = new TrainLog(logDir, { startEpoch, title: name });
    log = trainLog;
    mkdirSync(modelDir, { recursive: true });
    await writeFileAtomic(join(logDir, 'args.txt'), `${JSON.stringify({ ...o, storeName: name }, null, 1)}\n`);
    const { epochs, evalFreq } = r;
    let last: string | undefined;
    let lastPrec1: number | undefined;
    for (let epoch = startEpoch; epoch < epochs; epoch++) {
      const stats: EpochStats = await trainer.trainEpoch(epoch, train.epoch(epoch), train.length);
      const { lr } = stats;
      trainLog.csv(`Epoch: [${epoch}], lr: ${lr.toFixed(5)}\tLoss ${stats.loss.toFixed(4)}\tPrec@1 ${stats.top1.toFixed(3)}\tPrec@5 ${stats.top5.toFixed(3)}`);
      trainLog.record({ type: 'epoch', epoch, lr, loss: stats.loss, top1: stats.top1, top5: stats.top5, batches: stats.batches, samples: stats.samples, ms: stats.ms });
      if ((epoch + 1) % evalFreq === 0 || epoch === epochs - 1) {
        const prec1 = await validateAt(epoch);
        lastPrec1 = prec1;
        const isBest = prec1 > bestPrec1;
        bestPrec1 = Math.max(prec1, bestPrec1);
        trainLog.csv(`Testing Results: Prec@1 ${prec1.toFixed(3)}\nBest Prec@1: ${bestPrec1.toFixed(3)}`);
        const saved = await saveRunCheckpoint(modelDir, withCategories(trainer.checkpoint(epoch + 1, bestPrec1, arch), ds.categories), isBest);
        last = saved.last;
        onEvent({ status: 'checkpoint', path: saved.last, best: false });
        if (saved.best) onEvent({ status: 'checkpoint', path: saved.best, best: true });
      }
      await trainLog.renderCurves();
    }
    return { storeName: name, bestPrec1, checkpoint: last, lastPrec1 };
  } finally {
    await Promise.all(loaders.map((l) => l.close()));
    await trainer.release();
  }
}
