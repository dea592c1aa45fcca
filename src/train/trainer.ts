/**
 * The training loop of TSM's main.py (`train()` per epoch with `adjust_learning_rate`), over any async iterator of
 * batches: each batch is one {@link TrainStep} run. Progress goes to one callback as plain objects; nothing prints.
 * Node only.
 */
import type { CheckpointContents, PickleValue } from '../checkpoint/index.js';
import { pyFloat } from '../checkpoint/index.js';
import { mixSeed } from '../data/random.js';
import { UsageError } from '../errors.js';
import type { Module } from '../nn/index.js';
import type { Device } from '../runtime/index.js';
import type { HostTensor } from '../tensor/index.js';
import { type ParamGroup, getOptimPolicies, setTrainMode, singleGroup } from './policies.js';
import { type LrType, adjustLearningRate } from './schedule.js';
import { SGD } from './sgd.js';
import { TrainStep } from './train-step.js';

/** One training batch: float32 clips `[B, T*C, H, W]` and int64 labels `[B]`. */
export interface Batch {
  readonly input: HostTensor;
  readonly labels: HostTensor;
}

/** Progress events, one callback for all (transformers.js style). */
export type TrainEvent =
  | {
      readonly status: 'epoch_start';
      readonly epoch: number;
      readonly lr: number;
      /** Batches this epoch will have, when the caller knows (a progress bar's total). */
      readonly total?: number;
    }
  | {
      readonly status: 'step';
      readonly epoch: number;
      /** 0-based batch index in the epoch. */
      readonly iter: number;
      readonly loss: number;
      readonly gradNorm: number;
      /** Precision@1 and @5 of this batch, in percent (main.py's `accuracy`). */
      readonly top1: number;
      readonly top5: number;
      readonly lr: number;
      /** Clips in this batch. */
      readonly samples: number;
      /** Wall time of the step, ms. */
      readonly ms: number;
    }
  | { readonly status: 'epoch_end'; readonly epoch: number; readonly stats: EpochStats };

/** Averages over one epoch, weighted by batch size (main.py's AverageMeter). */
export interface EpochStats {
  /** The learning rate the epoch ran with (the schedule's, before parameter-group multipliers). */
  readonly lr: number;
  readonly loss: number;
  readonly top1: number;
  readonly top5: number;
  readonly batches: number;
  readonly samples: number;
  readonly ms: number;
}

/** Options of {@link Trainer}, named after main.py's arguments. */
export interface TrainerOptions {
  /** Base learning rate (`--lr`). */
  readonly lr: number;
  /** @default 'step' */
  readonly lrType?: LrType;
  /** @default [50, 100] */
  readonly lrSteps?: readonly number[];
  /** Total epochs, for the cosine schedule (`--epochs`). @default 120 */
  readonly epochs?: number;
  /** @default 0.9 */
  readonly momentum?: number;
  /** @default 5e-4 */
  readonly weightDecay?: number;
  /** Max total gradient norm (`--clip-gradient`, default 20 in TSM's opts.py); null disables clipping. @default 20 */
  readonly clipGradient?: number | null;
  /** Parameter groups: TSM's `get_optim_policies` or one group of every parameter. @default 'tsm' */
  readonly policies?: 'tsm' | 'single' | readonly ParamGroup[];
  /** Partial BN (`--no_partialbn` turns it off). @default the model's config, else true */
  readonly partialBn?: boolean;
  /** @default 'cpu' */
  readonly device?: Device;
  /** Threads inside one op; 0 lets onnxruntime decide. @default 0 */
  readonly threads?: number;
  /**
   * Seed of the dropout masks: step `iter` of epoch `epoch` draws from (seed, epoch, iter), so a resumed run
   * continues with the masks an uninterrupted one would draw. @default 0
   */
  readonly seed?: number;
  /** Receives {@link TrainEvent}s. */
  readonly onProgress?: (event: TrainEvent) => void;
}

/** Top-k precision in percent of `logits` `[B, C]` against int64 `labels` `[B]` (k capped at C). */
export function accuracy(logits: HostTensor, labels: HostTensor, k: number): number {
  const [b, c] = logits.shape;
  const kk = Math.min(k, c);
  const data = logits.data as Float32Array;
  let hits = 0;
  for (let i = 0; i < b; i++) {
    const row = data.subarray(i * c, (i + 1) * c);
    const label = Number(labels.data[i]);
    const target = row[label];
    // Rank of the label: classes scoring higher (ties before it count as higher, as torch.topk is stable).
    let higher = 0;
    for (let j = 0; j < c; j++) if (row[j] > target || (row[j] === target && j < label)) higher++;
    if (higher < kk) hits++;
  }
  return (100 * hits) / b;
}

/**
 * Trains a model with SGD, TSM's parameter groups, partial BN, gradient clipping and the lr schedule.
 * @example
 * const trainer = new Trainer(model, { lr: 0.01, lrSteps: [20, 40], epochs: 50, onProgress: console.log });
 * for (let epoch = 0; epoch < 50; epoch++) await trainer.trainEpoch(epoch, loader.epoch(epoch));
 * await writePth('ckpt.pth', trainer.checkpoint(50, 0));
 */
export class Trainer {
  readonly optimizer: SGD;
  private readonly steps = new Map<string, TrainStep>();
  /** Gradient clipping max norm, or null for none. */
  private readonly clip: number | null;

  constructor(
    readonly model: Module,
    private readonly opts: TrainerOptions,
  ) {
    const groups =
      opts.policies === 'single' ? singleGroup(model) : opts.policies === undefined || opts.policies === 'tsm' ? getOptimPolicies(model, { partialBn: opts.partialBn }) : opts.policies;
    this.optimizer = new SGD(groups, { lr: opts.lr, momentum: opts.momentum ?? 0.9, weightDecay: opts.weightDecay ?? 5e-4 });
    this.clip = opts.clipGradient === undefined ? 20 : opts.clipGradient;
    if (this.clip !== null && !(this.clip > 0)) throw UsageError.expected('clipGradient', 'a positive number', this.clip);
  }

  /** The step runner for one batch shape (built on first use; the last batch may be smaller). */
  private async stepFor(input: HostTensor): Promise<TrainStep> {
    const key = input.shape.join('x');
    let step = this.steps.get(key);
    if (!step) {
      step = await TrainStep.create(this.model, this.optimizer, {
        inputShape: input.shape,
        clipGradNorm: this.clip ?? undefined,
        device: this.opts.device,
        threads: this.opts.threads,
      });
      this.steps.set(key, step);
    }
    return step;
  }

  /**
   * One epoch: sets the epoch's learning rate, puts the model in train mode (with partial BN), and runs one
   * step per batch. Everything it draws depends on (seed, epoch, iteration) only, so epochs run after a resume
   * repeat an uninterrupted run exactly (given the same batches).
   * @param total batches the iterator will yield, for progress events (optional)
   * @returns loss and precision averaged over the epoch
   */
  async trainEpoch(epoch: number, batches: AsyncIterable<Batch> | Iterable<Batch>, total?: number): Promise<EpochStats> {
    const o = this.opts;
    const lr = adjustLearningRate(this.optimizer, epoch, { lr: o.lr, lrType: o.lrType, lrSteps: o.lrSteps, epochs: o.epochs });
    setTrainMode(this.model, o.partialBn);
    o.onProgress?.({ status: 'epoch_start', epoch, lr, ...(total === undefined ? {} : { total }) });
    const t0 = performance.now();
    let loss = 0;
    let top1 = 0;
    let top5 = 0;
    let samples = 0;
    let iter = 0;
    for await (const batch of batches) {
      const s0 = performance.now();
      const step = await this.stepFor(batch.input);
      const r = await step.run(batch.input, batch.labels, { seed: mixSeed(o.seed ?? 0, epoch, iter) });
      const n = batch.input.shape[0];
      const a1 = accuracy(r.logits, batch.labels, 1);
      const a5 = accuracy(r.logits, batch.labels, 5);
      loss += r.loss * n;
      top1 += a1 * n;
      top5 += a5 * n;
      samples += n;
      o.onProgress?.({ status: 'step', epoch, iter, loss: r.loss, gradNorm: r.gradNorm, top1: a1, top5: a5, lr, samples: n, ms: performance.now() - s0 });
      iter++;
    }
    const stats: EpochStats = {
      lr,
      loss: samples ? loss / samples : NaN,
      top1: samples ? top1 / samples : NaN,
      top5: samples ? top5 / samples : NaN,
      batches: iter,
      samples,
      ms: performance.now() - t0,
    };
    o.onProgress?.({ status: 'epoch_end', epoch, stats });
    return stats;
  }

  /**
   * The checkpoint main.py saves: `{epoch, arch, state_dict, optimizer, best_prec1}` (pass to `writePth`). Keys get
   * `module.` as the original's `DataParallel` model has, since its test_models.py drops the first key component.
   * A TSN with an online (uni-directional) shift also gets `shift_mode: 'online'`: its keys are those of a TSM
   * model, so loaders read the mode from this entry (or the `_online` store-name token).
   * @param epoch the next epoch to run (main.py saves `epoch + 1`)
   * @param arch @default the TSN's base model
   */
  checkpoint(epoch: number, bestPrec1: number, arch?: string): CheckpointContents {
    const config = (this.model as unknown as { config?: { baseModel?: string; shiftMode?: string } }).config;
    const a = arch ?? config?.baseModel ?? this.model.constructor.name;
    const meta: Record<string, PickleValue> = { epoch, arch: a, optimizer: this.optimizer.stateDict(), best_prec1: pyFloat(bestPrec1) };
    if (config?.shiftMode === 'online') meta.shift_mode = 'online';
    return { stateDict: new Map([...this.model.stateDict()].map(([k, t]) => [`module.${k}`, t])), meta };
  }

  /**
   * Resumes from a checkpoint's `optimizer` entry (main.py `--resume`); load the weights with `loadStateDict`.
   * @throws {CheckpointError} when the saved groups do not fit this optimizer
   */
  loadOptimizerState(optimizer: PickleValue, source?: string): void {
    this.optimizer.loadStateDict(optimizer, source);
  }

  /** Frees every step session. */
  async release(): Promise<void> {
    for (const s of this.steps.values()) await s.release();
    this.steps.clear();
  }
}
