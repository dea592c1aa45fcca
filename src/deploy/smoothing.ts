/**
 * Output smoothing of the original online demo (`online_demo/main.py`), so a live label does not flicker:
 * logits are summed over the last 12 frames (`HISTORY_LOGIT`), and `process_output` then masks classes the
 * demo never shows, folds "Doing other things" into "No gesture", and only lets the label change when the
 * previous two outputs agree. Browser-safe (no Node imports); the web demo and `tsm demo` share it.
 */
import { UsageError } from '../errors.js';
import { positiveInt } from '../util/check.js';
import { type ClassScore, argmax, softmax, topK } from '../util/scores.js';
import { isJesterLabels } from './labels.js';

export { type ClassScore, argmax, softmax, topK } from '../util/scores.js';

/** Rules of {@link OutputSmoother}. Every field is optional; {@link GENERIC_SMOOTHING} fills the gaps. */
export interface SmoothingRules {
  /** Logit vectors summed before the argmax (`history_logit[-12:]`); 1 uses the current frame only. @default 12 */
  readonly logitWindow?: number;
  /** Outputs kept in the history (`max_hist_len`). @default 20 */
  readonly maxHistLen?: number;
  /** Classes replaced by the previous output ("mask out illegal action"). @default [] */
  readonly illegal?: readonly number[];
  /** Classes shown as another class ("use only single no action class": `{ 0: 2 }`). @default {} */
  readonly aliases?: Readonly<Record<number, number>>;
  /** The history the demo starts with (`history = [2]`); empty starts with the first prediction. @default [] */
  readonly initialHistory?: readonly number[];
  /**
   * `SOFTMAX_THRES`: keep the previous output unless the top softmax score exceeds it; 0 disables. Only used
   * when `logitWindow` is 1: as in the original, the logit history decides when it is on. @default 0
   */
  readonly softmaxThreshold?: number;
  /** `REFINE_OUTPUT`: apply `process_output` (masking, aliases, stickiness). @default true */
  readonly refine?: boolean;
  /** Entries of {@link SmoothedPrediction.top}. @default 5 */
  readonly topK?: number;
}

/** The online demo's settings for its 27 Jester classes (`SOFTMAX_THRES = 0`, `HISTORY_LOGIT = True`, ...). */
export const JESTER_SMOOTHING: Readonly<Required<SmoothingRules>> = Object.freeze({
  logitWindow: 12,
  maxHistLen: 20,
  illegal: Object.freeze([7, 8, 21, 22, 3]), // Rolling Hand Backward/Forward, Turning Hand (Counter)Clockwise, Pulling Hand In
  aliases: Object.freeze({ 0: 2 }), // Doing other things -> No gesture
  initialHistory: Object.freeze([2]),
  softmaxThreshold: 0,
  refine: true,
  topK: 5,
});

/** The same smoothing without the Jester-specific class rules, for any other label set. */
export const GENERIC_SMOOTHING: Readonly<Required<SmoothingRules>> = Object.freeze({
  ...JESTER_SMOOTHING,
  illegal: Object.freeze([]),
  aliases: Object.freeze({}),
  initialHistory: Object.freeze([]),
});

/** {@link JESTER_SMOOTHING} for the Jester labels, else {@link GENERIC_SMOOTHING}. */
export const smoothingFor = (labels: readonly string[]): Readonly<Required<SmoothingRules>> =>
  isJesterLabels(labels) ? JESTER_SMOOTHING : GENERIC_SMOOTHING;

/**
 * One step of the original `process_output(idx_, history)`: returns the output class and the new history
 * (at most `maxHistLen` entries). `history` is not modified.
 * NOTE: the original reads `history[-2]` with `history = [2]` on its first call, which raises IndexError in
 * Python whenever the first prediction is not 2. Here a missing `history[-2]` counts as "not stable", so the
 * first change is held back one frame (the label stays 2 and the history becomes `[2, 2]`).
 */
export function processOutput(idx: number, history: readonly number[], rules: SmoothingRules = JESTER_SMOOTHING): [number, number[]] {
  const r = { ...GENERIC_SMOOTHING, ...rules };
  if (!r.refine) return [idx, [...history, idx].slice(-r.maxHistLen)];
  const last = history.length > 0 ? history[history.length - 1] : undefined;
  let out = idx;
  if (last !== undefined && r.illegal.includes(out)) out = last; // mask out illegal action
  out = r.aliases[out] ?? out; // use only single no action class
  if (last !== undefined && out !== last) {
    // history smoothing: a change is accepted only after the previous two outputs agree
    const stable = history.length >= 2 && history[history.length - 2] === last;
    if (!stable) out = last;
  }
  const next = [...history, out].slice(-r.maxHistLen);
  return [next[next.length - 1], next];
}


/** What {@link OutputSmoother.push} returns for one frame. */
export interface SmoothedPrediction {
  /** The smoothed class to show. */
  readonly index: number;
  /** argmax of this frame's logits alone. */
  readonly rawIndex: number;
  /** argmax of the summed logit window, before `process_output`. */
  readonly windowIndex: number;
  /** Top classes by softmax of the mean logits over the window, best first. */
  readonly top: readonly ClassScore[];
}

function checkRules(r: Required<SmoothingRules>): void {
  positiveInt('logitWindow', r.logitWindow);
  if (!Number.isInteger(r.maxHistLen) || r.maxHistLen < 2) throw UsageError.expected('maxHistLen', 'an integer >= 2', r.maxHistLen);
  if (!(r.softmaxThreshold >= 0 && r.softmaxThreshold < 1)) throw UsageError.expected('softmaxThreshold', 'a number in [0, 1)', r.softmaxThreshold);
  positiveInt('topK', r.topK);
}

/**
 * Turns a stream of logits into a steady label, as the original demo's main loop does per processed frame.
 * @example
 * const smoother = new OutputSmoother(smoothingFor(labels));
 * const { index, top } = smoother.push(logits); // labels[index] is what the demo prints
 */
export class OutputSmoother {
  readonly rules: Readonly<Required<SmoothingRules>>;
  private logitHistory: Float64Array[] = [];
  private outputs: number[];
  private current: number;

  /** @throws {UsageError} when a rule is out of range */
  constructor(rules: SmoothingRules = JESTER_SMOOTHING) {
    this.rules = Object.freeze({ ...GENERIC_SMOOTHING, ...rules });
    checkRules(this.rules);
    this.outputs = [...this.rules.initialHistory];
    this.current = this.outputs.length > 0 ? this.outputs[this.outputs.length - 1] : 0;
  }

  /** The recent outputs, oldest first (`history` of the original). */
  get history(): readonly number[] {
    return this.outputs;
  }

  /**
   * Adds one frame's logits; returns the smoothed prediction.
   * @throws {UsageError} when the logit width changes within a stream
   */
  push(logits: ArrayLike<number>): SmoothedPrediction {
    const width = this.logitHistory[0]?.length;
    if (width !== undefined && logits.length !== width) {
      throw new UsageError(`logits have ${logits.length} classes, earlier frames had ${width}; call reset() between models`);
    }
    const rawIndex = argmax(logits);
    let idx = rawIndex;
    const { softmaxThreshold, logitWindow } = this.rules;
    if (softmaxThreshold > 0 && softmaxThreshold >= Math.max(...softmax(logits))) idx = this.current;
    this.logitHistory.push(Float64Array.from(logits));
    this.logitHistory = this.logitHistory.slice(-logitWindow);
    const sum = new Float64Array(logits.length);
    for (const l of this.logitHistory) for (let i = 0; i < sum.length; i++) sum[i] += l[i];
    if (logitWindow > 1) idx = argmax(sum); // HISTORY_LOGIT overrides the threshold, as in the original
    const windowIndex = idx;
    [this.current, this.outputs] = processOutput(idx, this.outputs, this.rules);
    const mean = sum.map((v) => v / this.logitHistory.length);
    return { index: this.current, rawIndex, windowIndex, top: topK(softmax(mean), this.rules.topK) };
  }

  /** Forgets the stream (a new video). */
  reset(): void {
    this.logitHistory = [];
    this.outputs = [...this.rules.initialHistory];
    this.current = this.outputs.length > 0 ? this.outputs[this.outputs.length - 1] : 0;
  }
}
