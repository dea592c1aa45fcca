/**
 * JavaScript shapes of the Python values a checkpoint pickle holds. Containers keep their Python kind (dict vs
 * OrderedDict, list vs tuple) so that a checkpoint we read writes back the way it was.
 *
 * | Python                         | JavaScript                                               |
 * | ------------------------------ | -------------------------------------------------------- |
 * | `None`, `bool`, `str`          | `null`, `boolean`, `string`                              |
 * | `int`                          | `number` (`bigint` beyond ±2^53)                         |
 * | `float`                        | `number` ({@link PyFloat} when read with `keepFloats`)   |
 * | `bytes`                        | `Uint8Array`                                             |
 * | `list` / `tuple`, `torch.Size` | `PickleValue[]` / {@link PyTuple}                        |
 * | `dict` / `OrderedDict`         | `Map` / {@link OrderedDict}                              |
 * | `argparse.Namespace`           | a plain object (`{ lr: 0.01, ... }`)                     |
 * | `torch.Tensor`, `Parameter`    | {@link HostTensor} (C-contiguous copy)                   |
 * | `numpy` scalar                 | `number` / `bigint` / `boolean`                          |
 */
import { DTYPES, TYPED_ARRAY_CTORS, type DType, type HostTensor } from '../tensor/index.js';

/** A Python tuple. Kept apart from lists (plain arrays) so it writes back as a tuple. */
export class PyTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

/**
 * A Python float. Plain JS numbers write as `int` when they are integral (`1`) and as `float` otherwise (`12.5`);
 * wrap a number in `PyFloat` (or call {@link pyFloat}) to write `1.0`.
 */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** Shorthand for `new PyFloat(value)`: `{ best_prec1: pyFloat(50) }` writes `50.0`, not `50`. */
export const pyFloat = (value: number): PyFloat => new PyFloat(value);

/**
 * `collections.OrderedDict`: a `Map` that writes back as an OrderedDict. `attrs` holds the instance attributes
 * that the pickle set with BUILD, e.g. the `_metadata` (per-module versions) torch attaches to every state dict.
 */
export class OrderedDict<K = PyKey, V = PickleValue> extends Map<K, V> {
  attrs?: Map<string, PickleValue>;
}

/** A reference to an allowed Python class or function that ended up as a plain value (e.g. `torch.FloatStorage`). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}

  /** `module.name`, as Python prints it. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A torch storage (a flat typed buffer, shared by the tensors that view it). Only appears bare when a file saves one. */
export class TorchStorage {
  /** Raw little-endian bytes, `numel * itemsize` long; set once the file's storage records are read. */
  bytes?: Uint8Array;

  constructor(
    /** Storage key in the file (`archive/data/<key>` in zip files, the legacy key list otherwise). */
    readonly key: string,
    readonly dtype: DType,
    /** Number of elements (not bytes). */
    readonly numel: number,
    /** Device it was saved from (`cpu`, `cuda:0`); loading always puts it in host memory. */
    readonly location: string,
  ) {}
}

/** A `numpy.dtype` object (only met as the first argument of a numpy scalar). */
export class NumpyDType {
  /** `<` little, `>` big, `|` not applicable, `=` native; set by BUILD from the pickled state. */
  byteorder = '=';

  constructor(readonly descr: string) {}
}

/** Keys a Python dict can have in a checkpoint: strings, ints (optimizer state), and a few rarer hashables. */
export type PyKey = string | number | bigint | boolean | null | PyTuple | PyFloat;

/** Whether `v` can be a dict key (Python would call it hashable). */
export function isPyKey(v: unknown): v is PyKey {
  return (
    v === null ||
    typeof v === 'string' ||
    typeof v === 'number' ||
    typeof v === 'bigint' ||
    typeof v === 'boolean' ||
    v instanceof PyTuple ||
    v instanceof PyFloat
  );
}

/** A plain object: an `argparse.Namespace` when read; any string-keyed dict when written. */
export interface PyRecord {
  readonly [key: string]: PickleValue;
}

/** Any value a checkpoint pickle can hold (see the table at the top of this file). */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyFloat
  | PyTuple
  | PickleValue[]
  | ReadonlyMap<PyKey, PickleValue>
  | ReadonlySet<PickleValue>
  | HostTensor
  | PyGlobal
  | TorchStorage
  | NumpyDType
  | PyRecord;

const TYPED_ARRAYS = Object.values(TYPED_ARRAY_CTORS);

/** Makes a Python int: a number when it is a safe integer, else a bigint. */
export function pyInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** True when `v` is a {@link HostTensor}: a known dtype, an integer shape, and a typed array. */
export function isHostTensor(v: unknown): v is HostTensor {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Partial<HostTensor>;
  return (
    typeof t.dtype === 'string' &&
    Object.hasOwn(DTYPES, t.dtype) &&
    Array.isArray(t.shape) &&
    TYPED_ARRAYS.some((ctor) => t.data instanceof ctor)
  );
}

/** True when `v` is a plain object (a namespace or a string-keyed dict), not one of the classes above. */
export function isPyRecord(v: unknown): v is PyRecord {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || isHostTensor(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === null || proto === Object.prototype;
}

/** A short Python-ish description of a value's type, for error messages: `dict`, `tuple`, `Tensor[float32]`. */
export function describePy(v: unknown): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'str';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyFloat) return 'float';
  if (v instanceof PyTuple) return `tuple of ${v.items.length}`;
  if (Array.isArray(v)) return `list of ${v.length}`;
  if (v instanceof OrderedDict) return 'OrderedDict';
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  if (v instanceof PyGlobal) return v.qualifiedName;
  if (v instanceof TorchStorage) return `storage[${v.dtype}]`;
  if (v instanceof NumpyDType) return `numpy.dtype(${v.descr})`;
  if (isHostTensor(v)) return `Tensor[${v.dtype}]`;
  if (isPyRecord(v)) return 'object';
  return typeof v;
}
