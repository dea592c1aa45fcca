/**
 * Test metrics as test_models.py computes them: top-1 / top-5 precision over videos (`accuracy()` with an
 * `AverageMeter`), the confusion matrix, per-class accuracy `cls_hit / cls_cnt` and its mean, and the "upper
 * bound" `mean(max(cf, axis=1) / cls_cnt)`. Pure functions; they run anywhere.
 */
import { ShapeError, UsageError } from '../errors.js';
import { positiveInt } from '../util/check.js';
import { argmax, topK } from '../util/scores.js';

export { argmax } from '../util/scores.js';

/** The k of "top-5": 5, or the class count when there are fewer classes. */
export const topKOf = (numClass: number, k = 5): number => Math.min(k, numClass);

/** The `k` best classes of one score row, best first; ties go to the lower class index (see {@link topK}). */
export const topKIndices = (row: ArrayLike<number>, k: number): number[] => topK(row, k).map((c) => c.index);


/** Row `i` of a row-major `[N, numClass]` score matrix. */
export const scoreRow = (scores: Float32Array, numClass: number, i: number): Float32Array => scores.subarray(i * numClass, (i + 1) * numClass);

function checkScores(scores: Float32Array, labels: readonly number[], numClass: number): void {
  positiveInt('numClass', numClass);
  if (scores.length !== labels.length * numClass) {
    throw new ShapeError(`scores hold ${scores.length} values, expected ${labels.length} videos x ${numClass} classes = ${labels.length * numClass}`);
  }
  labels.forEach((l, i) => {
    if (!Number.isInteger(l) || l < 0 || l >= numClass) throw UsageError.expected(`the label of video ${i}`, `a class index in [0, ${numClass})`, l);
  });
}

/**
 * Running top-1 / top-5 over batches (test_models.py's `AverageMeter`s fed by `accuracy(output, target, (1, 5))`).
 * @example
 * const meter = new AccuracyMeter(174);
 * meter.update(batchScores, batchLabels);
 * meter.top1; // percent of videos so far
 */
export class AccuracyMeter {
  private hits1 = 0;
  private hitsK = 0;
  /** Videos seen. */
  count = 0;

  constructor(readonly numClass: number, readonly k = topKOf(numClass)) {}

  /** Adds a batch: `scores` is `[labels.length, numClass]` row-major. */
  update(scores: Float32Array, labels: readonly number[]): void {
    checkScores(scores, labels, this.numClass);
    labels.forEach((label, i) => {
      const top = topKIndices(scoreRow(scores, this.numClass, i), this.k);
      if (top[0] === label) this.hits1++;
      if (top.includes(label)) this.hitsK++;
    });
    this.count += labels.length;
  }

  /** Top-1 precision so far, in percent (0 before any video). */
  get top1(): number {
    return this.count === 0 ? 0 : (100 * this.hits1) / this.count;
  }

  /** Top-k precision so far, in percent. */
  get top5(): number {
    return this.count === 0 ? 0 : (100 * this.hitsK) / this.count;
  }
}

/**
 * The `[numClass, numClass]` confusion matrix: row = true class, column = predicted class (sklearn's layout).
 * @throws {UsageError} for a label or prediction outside `[0, numClass)`
 */
export function confusionMatrix(labels: readonly number[], preds: readonly number[], numClass: number): number[][] {
  if (labels.length !== preds.length) throw new ShapeError(`confusion matrix: ${labels.length} labels but ${preds.length} predictions`);
  const cm = Array.from({ length: numClass }, () => new Array<number>(numClass).fill(0));
  labels.forEach((l, i) => {
    const p = preds[i];
    if (!(l >= 0 && l < numClass) || !(p >= 0 && p < numClass)) throw UsageError.expected('labels and predictions', `class indices in [0, ${numClass})`, [l, p]);
    cm[l][p]++;
  });
  return cm;
}

/** One row of the per-class table. */
export interface ClassStats {
  readonly index: number;
  /** Category name, or `class <i>` when the dataset has none. */
  readonly name: string;
  /** Videos of this class (`cls_cnt`). */
  readonly count: number;
  /** Of them, predicted right (`cls_hit`). */
  readonly hits: number;
  /** `hits / count` in percent; null for a class with no videos. */
  readonly accuracy: number | null;
  /** The class its videos are most often mistaken for, when any is. */
  readonly confusedWith?: { readonly index: number; readonly name: string; readonly count: number };
}

/** Class accuracies from a confusion matrix. */
export interface ClassAccuracy {
  /** `cls_hit / cls_cnt` per class; null where `cls_cnt` is 0. */
  readonly perClass: readonly (number | null)[];
  /** Mean of the non-null entries, in [0, 1]. */
  readonly mean: number;
  /** `mean(max(cf, axis=1) / cls_cnt)` over the same classes, in [0, 1]. */
  readonly upperBound: number;
}

/**
 * Per-class accuracy and its mean, as test_models.py: `cls_acc = cls_hit / cls_cnt`, `np.mean(cls_acc)`.
 * NOTE: the original's sklearn matrix has a row for every class that is a label *or* a prediction, so a class
 * predicted but absent from the labels gives 0/0 = NaN and a NaN mean. We average over the classes that have
 * videos, which is the original's number whenever it is not NaN.
 */
export function classAccuracy(cm: readonly (readonly number[])[]): ClassAccuracy {
  const perClass = cm.map((row, c) => {
    const cnt = row.reduce((a, b) => a + b, 0);
    return cnt === 0 ? null : row[c] / cnt;
  });
  const present = cm.filter((row) => row.some((v) => v > 0));
  const mean = mean0(perClass.filter((v): v is number => v !== null));
  const upperBound = mean0(present.map((row) => Math.max(...row) / row.reduce((a, b) => a + b, 0)));
  return { perClass, mean, upperBound };
}

const mean0 = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Everything test_models.py prints at the end, plus the per-class table. */
export interface Metrics {
  readonly numVideos: number;
  readonly numClass: number;
  /** Top-1 precision in percent (`Overall Prec@1`). */
  readonly top1: number;
  /** Top-k precision in percent (`Prec@5`), k = {@link Metrics.k}. */
  readonly top5: number;
  /** The k of {@link Metrics.top5}: 5, or fewer for a dataset with fewer classes. */
  readonly k: number;
  /** Mean class accuracy in percent (`Class Accuracy`). */
  readonly meanClassAccuracy: number;
  /** `upper bound` in percent. */
  readonly upperBound: number;
  readonly perClass: readonly ClassStats[];
  /** `[numClass][numClass]` counts, row = true class, column = prediction. */
  readonly confusion: readonly (readonly number[])[];
}

/** `categories[i]`, or `class <i>` for a dataset with only a class count. */
export const className = (categories: readonly (string | null)[] | undefined, i: number): string => categories?.[i] ?? `class ${i}`;

/**
 * Computes {@link Metrics} from video scores and labels.
 * @param scores `[labels.length, numClass]` row-major (logits or probabilities: only the order matters)
 * @param labels true class of each video
 * @param categories class names (null entries and a missing list give `class <i>`)
 * @throws {ShapeError} when the sizes disagree; {@link UsageError} for a label outside `[0, numClass)`
 * @example computeMetrics(Float32Array.from([0.9, 0.1, 0.2, 0.8]), [0, 0], 2).top1 // 50
 */
export function computeMetrics(scores: Float32Array, labels: readonly number[], numClass: number, categories?: readonly (string | null)[]): Metrics {
  checkScores(scores, labels, numClass);
  const meter = new AccuracyMeter(numClass);
  meter.update(scores, labels);
  const preds = labels.map((_, i) => argmax(scoreRow(scores, numClass, i)));
  const cm = confusionMatrix(labels, preds, numClass);
  const acc = classAccuracy(cm);
  const perClass: ClassStats[] = cm.map((row, c) => {
    const count = row.reduce((a, b) => a + b, 0);
    let worst = -1;
    row.forEach((v, j) => {
      if (j !== c && v > 0 && (worst < 0 || v > row[worst])) worst = j;
    });
    const a = acc.perClass[c];
    return {
      index: c,
      name: className(categories, c),
      count,
      hits: row[c],
      accuracy: a === null ? null : 100 * a,
      ...(worst >= 0 ? { confusedWith: { index: worst, name: className(categories, worst), count: row[worst] } } : {}),
    };
  });
  return {
    numVideos: labels.length,
    numClass,
    top1: meter.top1,
    top5: meter.top5,
    k: meter.k,
    meanClassAccuracy: 100 * acc.mean,
    upperBound: 100 * acc.upperBound,
    perClass,
    confusion: cm,
  };
}
