/**
 * A pickle writer for protocol 2, the protocol torch.save uses by default. It writes the same opcodes CPython's
 * `pickle.Pickler` would for the values in {@link PickleValue}; tensors and storages are delegated to a hook
 * (see pth-writer.ts). Shared and self-referencing containers go through the memo, as in Python.
 */
import { UsageError } from '../errors.js';
import { latin1 } from './pickle-reader.js';
import { NumpyDType, OrderedDict, PyFloat, PyGlobal, PyTuple, type PickleValue, describePy, isPyKey, isPyRecord, pyInt } from './py-values.js';

/** The opcodes this writer emits (names as in CPython's pickle.py). */
export const OP = Object.freeze({
  MARK: 0x28,
  STOP: 0x2e,
  BINFLOAT: 0x47,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  NONE: 0x4e,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  BINUNICODE: 0x58,
  EMPTY_LIST: 0x5d,
  APPENDS: 0x65,
  BUILD: 0x62,
  GLOBAL: 0x63,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75,
  EMPTY_DICT: 0x7d,
  PROTO: 0x80,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
} as const);

/** Lets the caller write values the writer does not know (tensors, storages). */
export interface PickleWriterHooks {
  /** Writes `value` and returns true, or returns false to have the writer handle it. */
  special?(value: object, writer: PickleWriter): boolean;
}

/** Python's pickler batches APPENDS/SETITEMS in groups of this size. */
const BATCH = 1000;
const enc = new TextEncoder();

/**
 * Encodes a Python int as pickle's LONG payload: minimal little-endian two's complement (CPython `encode_long`).
 */
export function encodeLong(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  const abs = v < 0n ? -v : v;
  let n = (abs.toString(2).length >> 3) + 1;
  let u = v < 0n ? (1n << BigInt(n * 8)) + v : v;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++, u >>= 8n) out[i] = Number(u & 0xffn);
  if (v < 0n && n > 1 && out[n - 1] === 0xff && (out[n - 2] & 0x80) !== 0) n -= 1;
  return out.subarray(0, n);
}

/** Writes one pickle (protocol 2). Call {@link PickleWriter.write} once with the root value, then `finish()`. */
export class PickleWriter {
  private buf = new Uint8Array(1 << 16);
  private len = 0;
  private readonly memo = new Map<unknown, number>();
  private readonly inProgress = new Set<object>();
  private readonly path: string[] = [];

  constructor(private readonly hooks: PickleWriterHooks = {}) {
    this.op(OP.PROTO);
    this.byte(2);
  }

  /** Appends STOP and returns the pickle's bytes. */
  finish(): Uint8Array {
    this.op(OP.STOP);
    return this.buf.slice(0, this.len);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Appends one opcode byte. */
  op(code: number): void {
    this.byte(code);
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  private raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  private u32(v: number): void {
    this.reserve(4);
    new DataView(this.buf.buffer).setUint32(this.len, v, true);
    this.len += 4;
  }

  /** Writes a reference to `module.name` (GLOBAL), memoized so repeats cost a BINGET. */
  global(module: string, name: string): void {
    const key = `global:${module}\n${name}`;
    if (this.get(key)) return;
    this.op(OP.GLOBAL);
    this.raw(enc.encode(`${module}\n${name}\n`));
    this.put(key);
  }

  /** Writes `items` as a tuple (the items are written here; `MARK` first when there are more than three). */
  tuple(items: readonly PickleValue[]): void {
    if (items.length === 0) return this.op(OP.EMPTY_TUPLE);
    if (items.length > 3) this.op(OP.MARK);
    items.forEach((v, i) => this.at(`[${i}]`, () => this.write(v)));
    this.op(items.length > 3 ? OP.TUPLE : [OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][items.length - 1]);
  }

  /** Writes a Python int: BININT1/BININT2/BININT when it fits, else LONG1/LONG4. */
  int(v: number | bigint): void {
    if (typeof v === 'bigint') v = pyInt(v);
    if (typeof v === 'number' && v >= 0 && v <= 0xff) {
      this.op(OP.BININT1);
      this.byte(v);
    } else if (typeof v === 'number' && v >= 0 && v <= 0xffff) {
      this.op(OP.BININT2);
      this.byte(v & 0xff);
      this.byte(v >> 8);
    } else if (v >= -(2 ** 31) && v < 2 ** 31) {
      this.op(OP.BININT);
      this.reserve(4);
      new DataView(this.buf.buffer).setInt32(this.len, Number(v), true);
      this.len += 4;
    } else {
      const bytes = encodeLong(BigInt(v));
      if (bytes.length < 256) {
        this.op(OP.LONG1);
        this.byte(bytes.length);
      } else {
        this.op(OP.LONG4);
        this.u32(bytes.length);
      }
      this.raw(bytes);
    }
  }

  /** Writes a Python float (BINFLOAT, big-endian). */
  float(v: number): void {
    this.op(OP.BINFLOAT);
    this.reserve(8);
    new DataView(this.buf.buffer).setFloat64(this.len, v, false);
    this.len += 8;
  }

  /** Writes a Python str. */
  str(s: string): void {
    const bytes = enc.encode(s);
    this.op(OP.BINUNICODE);
    this.u32(bytes.length);
    this.raw(bytes);
  }

  /** Writes a BINGET for `obj` if it is already in the memo; returns whether it did. */
  get(obj: unknown): boolean {
    const i = this.memo.get(obj);
    if (i === undefined) return false;
    if (i < 256) {
      this.op(OP.BINGET);
      this.byte(i);
    } else {
      this.op(OP.LONG_BINGET);
      this.u32(i);
    }
    return true;
  }

  /** Stores the value on top of the stack in the memo under `obj` (BINPUT). */
  put(obj: unknown): void {
    const i = this.memo.size;
    this.memo.set(obj, i);
    if (i < 256) {
      this.op(OP.BINPUT);
      this.byte(i);
    } else {
      this.op(OP.LONG_BINPUT);
      this.u32(i);
    }
  }

  private at(step: string, fn: () => void): void {
    this.path.push(step);
    fn();
    this.path.pop();
  }

  private refuse(v: unknown, why: string): UsageError {
    return new UsageError(`cannot write ${describePy(v)} at ${this.path.join('') || 'the top level'} to a checkpoint: ${why}`);
  }

  /** Writes any {@link PickleValue}. */
  write(v: PickleValue): void {
    if (v === null) return this.op(OP.NONE);
    switch (typeof v) {
      case 'boolean':
        return this.op(v ? OP.NEWTRUE : OP.NEWFALSE);
      case 'bigint':
        return this.int(v);
      case 'number':
        // Integral numbers are Python ints; wrap in PyFloat to force a float. -0 stays a float to keep its sign.
        return Number.isSafeInteger(v) && !Object.is(v, -0) ? this.int(v) : this.float(v);
      case 'string':
        return this.str(v);
      case 'object':
        break;
      default:
        throw this.refuse(v, 'only None, bool, int, float, str, bytes, containers and tensors can be saved');
    }
    if (v instanceof PyFloat) return this.float(v.value);
    if (this.get(v)) return;
    if (this.hooks.special?.(v, this)) return this.put(v);
    if (v instanceof PyTuple) {
      if (v.items.length === 0) return this.op(OP.EMPTY_TUPLE);
      if (this.inProgress.has(v)) throw this.refuse(v, 'a tuple cannot contain itself');
      this.inProgress.add(v);
      this.tuple(v.items);
      this.inProgress.delete(v);
      return this.put(v);
    }
    if (v instanceof Uint8Array) {
      // Python 3 bytes at protocol 2: _codecs.encode(<latin1 text>, 'latin1'), as CPython writes them.
      this.global('_codecs', 'encode');
      this.tuple([latin1(v), 'latin1']);
      this.op(OP.REDUCE);
      return this.put(v);
    }
    if (Array.isArray(v)) {
      this.op(OP.EMPTY_LIST);
      this.put(v);
      for (let i = 0; i < v.length; i += BATCH) {
        this.op(OP.MARK);
        for (let j = i; j < Math.min(v.length, i + BATCH); j++) this.at(`[${j}]`, () => this.write(v[j]));
        this.op(OP.APPENDS);
      }
      return;
    }
    if (v instanceof Map || isPyRecord(v)) {
      if (v instanceof OrderedDict) {
        this.global('collections', 'OrderedDict');
        this.op(OP.EMPTY_TUPLE);
        this.op(OP.REDUCE);
      } else {
        this.op(OP.EMPTY_DICT);
      }
      this.put(v);
      const entries: [unknown, PickleValue][] = v instanceof Map ? [...v] : Object.entries(v);
      for (let i = 0; i < entries.length; i += BATCH) {
        this.op(OP.MARK);
        for (const [k, val] of entries.slice(i, i + BATCH)) {
          this.at(`[${typeof k === 'string' ? JSON.stringify(k) : String(k)}]`, () => {
            if (!isPyKey(k)) throw this.refuse(k, 'dict keys must be str, int, float, bool, None or tuples');
            this.write(k);
            this.write(val);
          });
        }
        this.op(OP.SETITEMS);
      }
      if (v instanceof OrderedDict && v.attrs && v.attrs.size > 0) {
        this.at('.attrs', () => this.write(v.attrs as Map<string, PickleValue>));
        this.op(OP.BUILD);
      }
      return;
    }
    if (v instanceof PyGlobal) return this.global(v.module, v.name);
    if (v instanceof NumpyDType) {
      this.global('numpy', 'dtype');
      this.tuple([v.descr, false, true]);
      this.op(OP.REDUCE);
      this.put(v);
      this.tuple([3, v.byteorder, null, null, null, -1, -1, 0]);
      this.op(OP.BUILD);
      return;
    }
    if (v instanceof Set) throw this.refuse(v, 'sets are not supported; use a list');
    throw this.refuse(v, 'unsupported object (expected a Map, plain object, array, PyTuple or HostTensor)');
  }
}

/**
 * Encodes `value` as a protocol-2 pickle.
 * @throws {UsageError} for values that cannot be pickled (undefined, functions, sets, unknown objects)
 */
export function encodePickle(value: PickleValue, hooks: PickleWriterHooks = {}): Uint8Array {
  const w = new PickleWriter(hooks);
  w.write(value);
  return w.finish();
}
