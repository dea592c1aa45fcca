/**
 * The temporal shift module and temporal pooling, mirroring TSM's `ops/temporal_shift.py`. Both are pure data
 * movement over the segment axis: no parameters and zero FLOPs (Slice, Pad, Concat, Reshape, MaxPool only).
 */
import { ShapeError, UsageError } from '../errors.js';
import { oneOf, positiveInt } from '../util/check.js';
import { type GraphBuilder, type Value, isStatic, shapeToString } from '../graph/index.js';
import { Module, Sequential } from '../nn/index.js';
import { BasicBlock, Bottleneck, type ResNet } from './resnet.js';

/** Where the shift goes in a ResNet: before `conv1` inside each residual branch, or before the whole block. */
export const SHIFT_PLACES = Object.freeze({ blockres: 'blockres', block: 'block' } as const);
/** One of {@link SHIFT_PLACES}. */
export type ShiftPlace = keyof typeof SHIFT_PLACES;

/**
 * Which way channels move in time. `bidirectional` is TSM's offline shift (`c // div` channels from the next frame,
 * `c // div` from the previous one). `online` only looks back: the first `c // div` channels come from the previous
 * frame (zeros at t = 0), the rest stay, as the online demo's `InvertedResidualWithShift` (`cat(shift_buffer,
 * x[:, c//8:])`, its buffer being the previous frame's `x[:, :c//8]`), so a model trained offline with it runs
 * frame by frame with the same outputs.
 */
export const SHIFT_MODES = Object.freeze({ bidirectional: 'bidirectional', online: 'online' } as const);
/** One of {@link SHIFT_MODES}. */
export type ShiftMode = keyof typeof SHIFT_MODES;

/** The static channel count of a `[N*T, C, H, W]` value, or a ShapeError naming `where`. */
function staticDims(x: Value, where: string): [number, number, number] {
  const [, c, h, w] = x.shape;
  if (x.rank !== 4 || !isStatic(c) || !isStatic(h) || !isStatic(w)) {
    throw new ShapeError(`${where}: expected [N*T, C, H, W] with static C, H, W, got ${shapeToString(x.shape)}`);
  }
  return [c, h, w];
}

/**
 * Mirrors TSM `ops/temporal_shift.py` `TemporalShift`: shifts part of the channels along time, then runs `net`.
 * Wraps a layer, so its keys gain `net.` (`layer1.0.conv1.net.weight`, `features.3.conv.0.net.weight`).
 * With `mode` `online` the shift only looks back (see {@link SHIFT_MODES}); keys do not change.
 */
export class TemporalShift extends Module {
  readonly net: Module;

  constructor(
    net: Module,
    readonly nSegment = 3,
    readonly foldDiv = 8,
    readonly inplace = false,
    readonly mode: ShiftMode = 'bidirectional',
  ) {
    super();
    this.net = net;
    positiveInt('n_segment', nSegment);
    positiveInt('shift_div', foldDiv);
    oneOf('shift mode', mode, SHIFT_MODES);
    // NOTE: the original raises NotImplementedError for inplace=True; the out-of-place shift below computes the
    // same values, so the flag is only recorded.
  }

  /** `net`'s nodes keep the names of the layer it wraps (`layer1.0.conv1/Conv`): the shift adds no scope level. */
  protected override childScope(name: string): string {
    return name === 'net' ? '' : name;
  }

  forward(g: GraphBuilder, x: Value): Value {
    return this.net.call(g, g.scope('shift', () => TemporalShift.shift(g, x, this.nSegment, this.foldDiv, this.mode)));
  }

  /**
   * `TemporalShift.shift(x, n_segment, fold_div)`: x `[N*T, C, H, W]` viewed as `[N, T, C, H, W]`; with
   * `fold = C // foldDiv`, channels `[0, fold)` move one step back in time (frame t takes t+1), channels
   * `[fold, 2*fold)` one step forward (t takes t-1), the rest stay; the frames shifted in at the clip ends are 0.
   * With `mode` `online`, channels `[0, fold)` move one step forward (t takes t-1, frame 0 gets zeros) and the rest
   * stay: frame t then depends on frames 0..t only.
   * @param mode @default 'bidirectional'
   * @throws {ShapeError} when C, H, W are not static
   */
  static shift(g: GraphBuilder, x: Value, nSegment: number, foldDiv: number, mode: ShiftMode = 'bidirectional'): Value {
    const [c, h, w] = staticDims(x, 'TemporalShift');
    const t = nSegment;
    // as in ops/temporal_shift.py: fold = c // fold_div
    const fold = Math.floor(c / foldDiv);
    if (fold === 0) return x; // nothing moves: out[:, :, 0:] = x
    const x5 = g.reshape(x, [-1, t, c, h, w]);
    const parts: Value[] = [];
    if (mode === 'online') {
      // as online_demo/mobilenet_v2_tsm.py: cat(shift_buffer, x[:, fold:]), shift_buffer = x_{t-1}[:, :fold]
      parts.push(shiftTime(g, x5, 0, fold, t, 'right'));
      if (fold < c) parts.push(g.slice(x5, [fold], [c], [2]));
      return g.reshape(parts.length === 1 ? parts[0] : g.concat(parts, 2), [-1, c, h, w]);
    }
    // out[:, :-1, :fold] = x[:, 1:, :fold]  (shift left), zero last frame
    parts.push(shiftTime(g, x5, 0, fold, t, 'left'));
    // out[:, 1:, fold:2*fold] = x[:, :-1, fold:2*fold]  (shift right), zero first frame
    const end2 = Math.min(2 * fold, c);
    if (end2 > fold) parts.push(shiftTime(g, x5, fold, end2, t, 'right'));
    // out[:, :, 2*fold:] = x[:, :, 2*fold:]  (not shifted)
    if (end2 < c) parts.push(g.slice(x5, [end2], [c], [2]));
    const out = parts.length === 1 ? parts[0] : g.concat(parts, 2);
    return g.reshape(out, [-1, c, h, w]);
  }
}

/** Channels `[c0, c1)` of `x5` moved one frame `dir` in time, the vacated frame zero. */
function shiftTime(g: GraphBuilder, x5: Value, c0: number, c1: number, t: number, dir: 'left' | 'right'): Value {
  if (t === 1) {
    // A one-frame clip: every frame is an end frame, so the shifted channels are all zero.
    // NOTE: Pad of an empty slice yields the zeros without a multiply.
    const empty = g.slice(x5, [0, c0], [0, c1], [1, 2]);
    return g.pad(empty, [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  }
  const src = dir === 'left' ? g.slice(x5, [1, c0], [t, c1], [1, 2]) : g.slice(x5, [0, c0], [t - 1, c1], [1, 2]);
  const pads = dir === 'left' ? [0, 0, 0, 0, 0, 0, 1, 0, 0, 0] : [0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
  return g.pad(src, pads);
}

/**
 * Mirrors TSM `ops/temporal_shift.py` `TemporalPool`: max-pools the segment axis (kernel 3, stride 2, padding 1
 * over T, 1x1 in space) before running `net`, halving T. Keys gain `net.` (`layer2.net.0.conv1.net.weight`), as
 * `make_temporal_pool` leaves them in checkpoints trained with `--temporal_pool`.
 */
export class TemporalPool extends Module {
  readonly net: Module;

  constructor(
    net: Module,
    readonly nSegment: number,
  ) {
    super();
    this.net = net;
  }

  /** `net`'s nodes keep the names of the stage it wraps (`layer2.0.conv1/Conv`): the pooling adds no scope level. */
  protected override childScope(name: string): string {
    return name === 'net' ? '' : name;
  }

  forward(g: GraphBuilder, x: Value): Value {
    return this.net.call(g, g.scope('tpool', () => TemporalPool.temporalPool(g, x, this.nSegment)));
  }

  /** `TemporalPool.temporal_pool(x, n_segment)`: `[N*T, C, H, W]` → `[N*T/2, C, H, W]` (T odd: ceil(T/2) frames). */
  static temporalPool(g: GraphBuilder, x: Value, nSegment: number): Value {
    const [c, h, w] = staticDims(x, 'TemporalPool');
    const x5 = g.transpose(g.reshape(x, [-1, nSegment, c, h, w]), [0, 2, 1, 3, 4]); // n, c, t, h, w
    const pooled = g.maxPool(x5, { kernelSize: [3, 1, 1], stride: [2, 1, 1], padding: [1, 0, 0] });
    // NOTE: the original views the result as nt // 2 frames; for odd T that view fails in PyTorch, here the
    // pooled ceil(T/2) frames are kept.
    return g.reshape(g.transpose(pooled, [0, 2, 1, 3, 4]), [-1, c, h, w]);
  }
}

/**
 * Mirrors `ops/temporal_shift.py` `make_temporal_shift` for a torchvision-layout ResNet, in place.
 * `blockres` wraps `conv1` of every `n_round`-th block (`n_round` = 2 when layer3 has 23 or more blocks, i.e.
 * ResNet-101/152, else 1); `block` wraps every whole block. With `temporalPool` the segment counts per stage are
 * [T, T/2, T/2, T/2].
 * @param mode @default 'bidirectional' (see {@link SHIFT_MODES})
 * @throws {UsageError} for an unknown place, or a segment count that pools to 0
 */
export function makeTemporalShift(net: ResNet, nSegment: number, nDiv = 8, place: ShiftPlace = 'blockres', temporalPool = false, mode: ShiftMode = 'bidirectional'): void {
  oneOf('shift place', place, SHIFT_PLACES);
  const half = Math.floor(nSegment / 2);
  const segments = temporalPool ? [nSegment, half, half, half] : [nSegment, nSegment, nSegment, nSegment];
  if (segments[3] <= 0) throw UsageError.expected('num_segments with temporal pooling', 'at least 2', nSegment);
  const stages = [net.layer1, net.layer2, net.layer3, net.layer4].map((s, i) => {
    if (!(s instanceof Sequential)) throw new UsageError(`make_temporal_shift: layer${i + 1} is a ${s.constructor.name}, expected the Sequential of blocks (shift before temporal pooling and non-local)`);
    return s;
  });
  const nRound = place === 'blockres' && stages[2].length >= 23 ? 2 : 1;
  stages.forEach((stage, s) => {
    for (let i = 0; i < stage.length; i++) {
      const b = stage[i];
      if (place === 'block') stage[i] = new TemporalShift(b, segments[s], nDiv, false, mode);
      else if (i % nRound === 0) {
        if (!(b instanceof BasicBlock || b instanceof Bottleneck)) throw new UsageError(`make_temporal_shift: layer${s + 1}.${i} is a ${b.constructor.name}, not a ResNet block`);
        b.conv1 = new TemporalShift(b.conv1, segments[s], nDiv, false, mode);
      }
    }
  });
}

/** Mirrors `ops/temporal_shift.py` `make_temporal_pool`: `layer2` becomes `TemporalPool(layer2)` (keys `layer2.net.*`). */
export function makeTemporalPool(net: ResNet, nSegment: number): void {
  net.layer2 = new TemporalPool(net.layer2, nSegment);
}
