/**
 * Tensor dimensions: a static size, or a symbolic one (`factor × symbol`, e.g. the batch `B` or `B*8` after
 * TSN folds segments into the batch). A small algebra is enough for TSM graphs: one symbol scaled by constants.
 */
import { ShapeError } from '../errors.js';

/** A symbolic dimension `factor * symbol` (factor may be fractional while a reshape is in progress). */
export interface SymDim {
  readonly symbol: string;
  readonly factor: number;
}

/** A dimension: a non-negative integer, or symbolic. */
export type Dim = number | SymDim;

/** A shape. */
export type Shape = readonly Dim[];

/** A symbolic dimension named `symbol`. */
export const sym = (symbol: string, factor = 1): SymDim => ({ symbol, factor });

export const isStatic = (d: Dim): d is number => typeof d === 'number';

/** True when every dimension is a number. */
export const isStaticShape = (s: Shape): s is readonly number[] => s.every(isStatic);

/** Options of {@link staticShape}. */
export interface StaticShapeOptions {
  /** The rank the value must have. */
  readonly rank?: number;
  /** Makes the error from its message, for a caller with its own error type. @default a ShapeError */
  readonly error?: (message: string) => Error;
}

/**
 * The dims of `v` when every one is static (and there are `rank` of them, when given).
 * @param where what needs them, for the message
 * @throws {ShapeError} `OnlineMobileNetV2.forward needs a static shape of rank 4 for "x", got [B,3,224,224]`
 */
export function staticShape(v: { readonly name: string; readonly shape: Shape }, where: string, opts: StaticShapeOptions = {}): number[] {
  if ((opts.rank !== undefined && v.shape.length !== opts.rank) || !isStaticShape(v.shape)) {
    const message = `${where} needs a static shape${opts.rank === undefined ? '' : ` of rank ${opts.rank}`} for "${v.name}", got ${shapeToString(v.shape)}`;
    throw opts.error ? opts.error(message) : new ShapeError(message);
  }
  return [...v.shape];
}

/** Prints `B`, `B*8`, `B/2` or `3`. */
export function dimToString(d: Dim): string {
  if (isStatic(d)) return String(d);
  if (d.factor === 1) return d.symbol;
  if (Number.isInteger(d.factor)) return `${d.symbol}*${d.factor}`;
  const inv = 1 / d.factor;
  return Number.isInteger(Math.round(inv * 1e9) / 1e9) ? `${d.symbol}/${Math.round(inv)}` : `${d.symbol}*${d.factor}`;
}

/** `[B,24,112,112]` */
export const shapeToString = (s: Shape): string => `[${s.map(dimToString).join(',')}]`;

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

/** Structural equality of two dims. */
export function dimEquals(a: Dim, b: Dim): boolean {
  if (isStatic(a) || isStatic(b)) return a === b;
  return a.symbol === b.symbol && close(a.factor, b.factor);
}

/** Product of a shape as `{ factor, symbol? }`; more than one symbolic dim is not supported. */
export function shapeProduct(s: Shape): { factor: number; symbol?: string } {
  let factor = 1;
  let symbol: string | undefined;
  for (const d of s) {
    if (isStatic(d)) factor *= d;
    else {
      if (symbol !== undefined) return { factor: NaN, symbol: '?' };
      symbol = d.symbol;
      factor *= d.factor;
    }
  }
  return { factor, symbol };
}

