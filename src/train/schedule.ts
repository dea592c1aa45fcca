/**
 * Learning-rate schedules of TSM's main.py (`adjust_learning_rate`), applied once per epoch.
 */
import { UsageError } from '../errors.js';
import type { SGD } from './sgd.js';

/** Schedules of the original: `step` (x0.1 at each of `lrSteps`) and `cos` (half cosine over `epochs`). */
export const LR_TYPES = Object.freeze({ step: 'step', cos: 'cos' } as const);
/** One of {@link LR_TYPES}. */
export type LrType = keyof typeof LR_TYPES;

/** Options of {@link learningRateAt} and {@link adjustLearningRate} (main.py's `--lr`, `--lr_type`, ...). */
export interface ScheduleOptions {
  /** Base learning rate (`--lr`). */
  readonly lr: number;
  /** @default 'step' */
  readonly lrType?: LrType;
  /** Epochs where the lr drops x0.1 (`--lr_steps`). @default [50, 100] */
  readonly lrSteps?: readonly number[];
  /** Total epochs, for `cos` (`--epochs`). @default 120 */
  readonly epochs?: number;
  /** Base weight decay (`--weight-decay`); unchanged by the schedule. @default the optimizer's */
  readonly weightDecay?: number;
}

/**
 * The base learning rate at `epoch`: `step`: `lr * 0.1 ** (number of lrSteps <= epoch)`; `cos`:
 * `0.5 * lr * (1 + cos(pi * epoch / epochs))`.
 * @throws {UsageError} for an unknown lrType
 */
export function learningRateAt(epoch: number, opts: ScheduleOptions): number {
  const type = opts.lrType ?? 'step';
  if (type === 'step') {
    const passed = (opts.lrSteps ?? [50, 100]).filter((s) => epoch >= s).length;
    return opts.lr * 0.1 ** passed;
  }
  if (type === 'cos') return 0.5 * opts.lr * (1 + Math.cos((Math.PI * epoch) / (opts.epochs ?? 120)));
  throw UsageError.unsupported('lr_type', type, Object.keys(LR_TYPES));
}

/**
 * `adjust_learning_rate(optimizer, epoch, lr_type, lr_steps)`: sets every group's `lr = base * lrMult` and
 * `weightDecay = decay * decayMult`.
 * @returns the base learning rate of this epoch
 * @example adjustLearningRate(sgd, epoch, { lr: 0.01, lrType: 'step', lrSteps: [10, 20] });
 */
export function adjustLearningRate(optimizer: SGD, epoch: number, opts: ScheduleOptions): number {
  const lr = learningRateAt(epoch, opts);
  const decay = opts.weightDecay ?? optimizer.defaults.weightDecay;
  for (const grp of optimizer.paramGroups) {
    grp.lr = lr * grp.lrMult;
    grp.weightDecay = decay * grp.decayMult;
  }
  return lr;
}
