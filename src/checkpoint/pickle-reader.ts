/**
 * A Python pickle reader (protocols 0-5, binary opcodes plus the common text ones) that never runs code: every
 * GLOBAL goes through {@link UnpickleHooks.findGlobal}, an allow-list, and every call (REDUCE, NEWOBJ, BUILD) through
 * the hooks too. The loop is iterative and every length is checked against the bytes left before anything is
 * read or allocated, so a corrupt or hostile file can only end in a {@link CheckpointError}.
 *
 * Opcode semantics follow CPython's `Lib/pickle.py` (`_Unpickler.load_*`).
 */
import { CheckpointError } from '../errors.js';
import { PyFloat, PyTuple, type PickleValue, type PyKey, describePy, isPyKey, pyInt } from './py-values.js';

/** What the reader asks of its caller: resolve globals, make objects, and resolve persistent ids. */
export interface UnpickleHooks {
  /** Resolves `module.name` (GLOBAL, STACK_GLOBAL, INST); throws `TSM_CHECKPOINT_GLOBAL` for anything not allowed. */
  findGlobal(module: string, name: string): PickleValue;
  /** Calls an allowed callable with positional arguments (REDUCE, NEWOBJ, INST, OBJ). */
  call(callable: PickleValue, args: readonly PickleValue[]): PickleValue;
  /** Applies BUILD `state` to `obj` in place. */
  build(obj: PickleValue, state: PickleValue): void;
  /** Resolves a persistent id (PERSID, BINPERSID); torch uses these for storages. */
  persistentLoad(pid: PickleValue): PickleValue;
}

/** Options of {@link unpickle}. */
export interface UnpickleOptions {
  /** Name used in error messages. @default '<buffer>' */
  readonly source?: string;
  /** Byte offset where the pickle starts. @default 0 */
  readonly start?: number;
  /** Read Python floats as {@link PyFloat} instead of numbers, so `1.0` writes back as a float. @default false */
  readonly keepFloats?: boolean;
}

/** Result of {@link unpickle}: the value and the offset just after its STOP opcode. */
export interface Unpickled {
  readonly value: PickleValue;
  readonly end: number;
}

/** Hooks that refuse every global, call and persistent id: for pickles that hold only plain data. */
export function plainDataHooks(source = '<buffer>'): UnpickleHooks {
  const refuse = (what: string) => new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source}: a plain-data pickle cannot ${what}`);
  return {
    findGlobal: (module, name) => {
      throw new CheckpointError('TSM_CHECKPOINT_GLOBAL', `${source}: refusing to load global ${module}.${name} in a plain-data pickle`);
    },
    call: () => {
      throw refuse('call anything');
    },
    build: () => {
      throw refuse('BUILD objects');
    },
    persistentLoad: () => {
      throw refuse('hold persistent ids');
    },
  };
}

/** Every opcode of protocols 0-5 by its `pickletools` name. */
const OP = Object.freeze({
  MARK: 0x28, STOP: 0x2e, POP: 0x30, POP_MARK: 0x31, DUP: 0x32, BINBYTES: 0x42, SHORT_BINBYTES: 0x43,
  FLOAT: 0x46, BINFLOAT: 0x47, INT: 0x49, BININT: 0x4a, BININT1: 0x4b, LONG: 0x4c, BININT2: 0x4d,
  NONE: 0x4e, PERSID: 0x50, BINPERSID: 0x51, REDUCE: 0x52, STRING: 0x53, BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55, UNICODE: 0x56, BINUNICODE: 0x58, EMPTY_LIST: 0x5d, APPEND: 0x61, BUILD: 0x62,
  GLOBAL: 0x63, DICT: 0x64, APPENDS: 0x65, GET: 0x67, BINGET: 0x68, INST: 0x69, LONG_BINGET: 0x6a,
  LIST: 0x6c, OBJ: 0x6f, PUT: 0x70, BINPUT: 0x71, LONG_BINPUT: 0x72, SETITEM: 0x73, TUPLE: 0x74,
  SETITEMS: 0x75, EMPTY_DICT: 0x7d, EMPTY_TUPLE: 0x29, PROTO: 0x80, NEWOBJ: 0x81, EXT1: 0x82,
  EXT2: 0x83, EXT4: 0x84, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, NEWTRUE: 0x88, NEWFALSE: 0x89,
  LONG1: 0x8a, LONG4: 0x8b, SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d, BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f, ADDITEMS: 0x90, FROZENSET: 0x91, NEWOBJ_EX: 0x92, STACK_GLOBAL: 0x93, MEMOIZE: 0x94,
  FRAME: 0x95, BYTEARRAY8: 0x96, NEXT_BUFFER: 0x97, READONLY_BUFFER: 0x98,
} as const);
/** An opcode name. */
type OpName = keyof typeof OP;

const OPCODE_NAMES: Readonly<Record<number, string>> = Object.freeze(Object.fromEntries(Object.entries(OP).map(([name, code]) => [code, name])));

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes bytes as ISO-8859-1 (Python's latin1), one char per byte. NOTE: TextDecoder('latin1') is windows-1252. */
export function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/**
 * A plain Uint8Array view of `bytes`. NOTE: Node's `Buffer#slice` returns a view, not a copy; readers rely on
 * `slice` copying (fresh, aligned buffers for tensors, BINBYTES payloads), so Buffers from `readFile` are re-viewed.
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes a little-endian two's-complement integer (pickle's LONG1/LONG4 payload). */
export function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let hex = '';
  for (let i = bytes.length - 1; i >= 0; i--) hex += bytes[i].toString(16).padStart(2, '0');
  let v = BigInt(`0x${hex}`);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return pyInt(v);
}

/**
 * Reads one pickle from `bytes` (from `opts.start` up to its STOP opcode).
 * @throws {CheckpointError} `TSM_CHECKPOINT_TRUNCATED` when the bytes end first, `TSM_CHECKPOINT_FORMAT` for a
 *   malformed pickle, `TSM_CHECKPOINT_GLOBAL` (from the hooks) for a global outside the allow-list
 */
export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks, opts: UnpickleOptions = {}): Unpickled {
  return new Unpickler(plainBytes(bytes), hooks, opts).run();
}

/**
 * The state of one read, as CPython's `_Unpickler`: the input and its position, the stack with its marks, and the
 * memo. Every read checks the bytes left first; every pop checks the stack above the top mark.
 */
class Unpickler {
  private readonly source: string;
  readonly stack: PickleValue[] = [];
  /** Stack heights at each MARK, innermost last. */
  readonly marks: number[] = [];
  readonly memo = new Map<number, PickleValue>();
  private pos: number;
  /** Where the opcode being run starts, and the opcode, for messages. */
  private opPos: number;
  private op = 0;
  private readonly keepFloats: boolean;
  private readonly dv: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    readonly hooks: UnpickleHooks,
    opts: UnpickleOptions,
  ) {
    this.source = opts.source ?? '<buffer>';
    this.keepFloats = opts.keepFloats ?? false;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = opts.start ?? 0;
    this.opPos = this.pos;
  }

  /** Runs opcodes up to STOP; returns the value on top of the stack and the offset after STOP. */
  run(): Unpickled {
    for (;;) {
      this.opPos = this.pos;
      this.op = this.u8();
      if (this.op === OP.STOP) return { value: this.pop(), end: this.pos };
      const handler = HANDLERS[this.op];
      if (!handler) {
        throw this.bad(OPCODE_NAMES[this.op] ? 'this opcode is not supported in checkpoints' : 'unknown opcode (not a pickle, or a corrupt one)');
      }
      handler(this);
    }
  }

  // ---- messages --------------------------------------------------------------------------------------------

  /** The running opcode's name (or its hex code when unknown). */
  opName(): string {
    return OPCODE_NAMES[this.op] ?? `0x${this.op.toString(16).padStart(2, '0')}`;
  }

  /** `TSM_CHECKPOINT_FORMAT` naming the source, the opcode and where it starts. */
  bad(what: string): CheckpointError {
    return new CheckpointError('TSM_CHECKPOINT_FORMAT', `${this.source}: corrupt pickle at byte ${this.opPos} (${this.opName()}): ${what}`);
  }

  /** `TSM_CHECKPOINT_GLOBAL` for an opcode that names globals outside the allow-list. */
  refused(why: string): CheckpointError {
    return new CheckpointError('TSM_CHECKPOINT_GLOBAL', `${this.source}: refusing ${this.opName()} at byte ${this.opPos}: ${why}`);
  }

  // ---- reading the input -----------------------------------------------------------------------------------

  /** Throws `TSM_CHECKPOINT_TRUNCATED` unless `n` more bytes are left. */
  need(n: number): void {
    const left = this.bytes.length - this.pos;
    if (n > left) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_TRUNCATED',
        `${this.source}: the pickle ends early: ${this.opName()} at byte ${this.opPos} needs ${n} more bytes, ${left} are left (truncated file?)`,
      );
    }
  }

  /** The next `n` bytes, as a view. */
  take(n: number): Uint8Array {
    this.need(n);
    this.pos += n;
    return this.bytes.subarray(this.pos - n, this.pos);
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }

  u16(): number {
    this.need(2);
    this.pos += 2;
    return this.dv.getUint16(this.pos - 2, true);
  }

  u32(): number {
    this.need(4);
    this.pos += 4;
    return this.dv.getUint32(this.pos - 4, true);
  }

  i32(): number {
    this.need(4);
    this.pos += 4;
    return this.dv.getInt32(this.pos - 4, true);
  }

  /** An 8-byte length. */
  u64(): number {
    this.need(8);
    const v = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    // Any length this large is more than the bytes left; report it as such instead of losing precision.
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }

  /** A big-endian double (BINFLOAT). */
  f64(): number {
    this.need(8);
    this.pos += 8;
    return this.dv.getFloat64(this.pos - 8, false);
  }

  /** A text argument up to the newline (latin1, a trailing `\r` dropped). */
  line(): string {
    const nl = this.bytes.indexOf(0x0a, this.pos);
    if (nl < 0) this.need(this.bytes.length - this.pos + 1);
    const s = latin1(this.bytes.subarray(this.pos, nl));
    this.pos = nl + 1;
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  }

  /** A length-`n` UTF-8 string. */
  utf8(n: number): string {
    const b = this.take(n);
    try {
      return UTF8.decode(b);
    } catch {
      throw this.bad('string is not valid UTF-8');
    }
  }

  /** A length from a signed 4-byte field (BINSTRING, LONG4). */
  length4(): number {
    const n = this.i32();
    if (n < 0) throw this.bad(`negative length ${n}`);
    return n;
  }

  /** A protocol-0 integer (INT, LONG, PUT, GET), with Python 2's `L` suffix allowed. */
  textInt(s: string): number | bigint {
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[+-]?\d{1,4300}$/.test(t)) throw this.bad(`not an integer: ${JSON.stringify(s.slice(0, 40))}`);
    return pyInt(BigInt(t));
  }

  /** A Python float as read: a number, or a {@link PyFloat} with `keepFloats`. */
  float(v: number): PickleValue {
    return this.keepFloats ? new PyFloat(v) : v;
  }

  // ---- the stack and the memo ------------------------------------------------------------------------------

  push(v: PickleValue): void {
    this.stack.push(v);
  }

  /** Stack height at the innermost MARK (0 without one): nothing below it may be popped. */
  private floor(): number {
    return this.marks.length > 0 ? this.marks[this.marks.length - 1] : 0;
  }

  /** True when the stack holds something above the innermost MARK. */
  aboveMark(): boolean {
    return this.stack.length > this.floor();
  }

  pop(): PickleValue {
    if (!this.aboveMark()) throw this.bad('stack underflow');
    return this.stack.pop() as PickleValue;
  }

  top(): PickleValue {
    if (!this.aboveMark()) throw this.bad('stack underflow');
    return this.stack[this.stack.length - 1];
  }

  /** Removes the innermost MARK and returns what was pushed after it. */
  popMark(): PickleValue[] {
    const m = this.marks.pop();
    if (m === undefined) throw this.bad('no MARK on the stack');
    return this.stack.splice(m);
  }

  memoGet(i: number): PickleValue {
    const v = this.memo.get(i);
    if (v === undefined) throw this.bad(`memo entry ${i} was never stored`);
    return v;
  }

  // ---- containers ------------------------------------------------------------------------------------------

  asList(v: PickleValue): PickleValue[] {
    if (!Array.isArray(v)) throw this.bad(`cannot append to ${describePy(v)}`);
    return v;
  }

  asDict(v: PickleValue): Map<PyKey, PickleValue> {
    if (!(v instanceof Map)) throw this.bad(`cannot set items on ${describePy(v)}`);
    return v as Map<PyKey, PickleValue>;
  }

  /** Sets alternating keys and values on `dict`. */
  setItems(dict: Map<PyKey, PickleValue>, items: readonly PickleValue[]): void {
    if (items.length % 2 !== 0) throw this.bad(`odd number of items (${items.length}) for key/value pairs`);
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i];
      if (!isPyKey(key)) throw this.bad(`unhashable dict key of type ${describePy(key)}`);
      dict.set(key, items[i + 1]);
    }
  }

  /** The items of the argument tuple of a call. */
  asArgs(v: PickleValue): readonly PickleValue[] {
    if (!(v instanceof PyTuple)) throw this.bad(`call arguments must be a tuple, got ${describePy(v)}`);
    return v.items;
  }
}

/** Runs one opcode (its argument bytes follow it in the input). */
type Handler = (u: Unpickler) => void;

/** Pops the top `n` values (the top one first) and returns them in stack order: `[a, b]` for `..., a, b`. */
const popN = (u: Unpickler, n: number): PickleValue[] => {
  const out = new Array<PickleValue>(n);
  for (let i = n - 1; i >= 0; i--) out[i] = u.pop();
  return out;
};

/** Protocol 0's UNICODE argument: raw-unicode-escape (pickle.py escapes \\, \0, \n, \r as \\uXXXX first). */
function rawUnicode(u: Unpickler, s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u4: string | undefined, u8: string | undefined) => {
    const cp = parseInt(u4 ?? u8 ?? '', 16);
    if (cp > 0x10ffff) throw u.bad(`bad code point \\U${u8}`);
    return String.fromCodePoint(cp);
  });
}

/** Protocol 0's FLOAT argument, as Python's `float()` reads it (`inf`, `-inf`, `nan` included). */
function textFloat(u: Unpickler, line: string): number {
  const s = line.trim();
  const v = Number(s === 'inf' ? 'Infinity' : s === '-inf' ? '-Infinity' : s === 'nan' ? 'NaN' : s);
  if (s === '' || (Number.isNaN(v) && s !== 'nan')) throw u.bad(`not a float: ${JSON.stringify(s.slice(0, 40))}`);
  return v;
}

/** A memo index given as text (PUT, GET). */
function textMemoIndex(u: Unpickler, nonNegative: boolean): number {
  const i = u.textInt(u.line());
  if (typeof i !== 'number' || (nonNegative && i < 0)) throw u.bad(`bad memo index ${i}`);
  return i;
}

/** copyreg extension codes stand for globals registered in the writer's process, outside any allow-list. */
const refuseExtension: Handler = (u) => {
  throw u.refused('copyreg extension codes name globals outside the allow-list');
};

/**
 * What each opcode does, after `pickle._Unpickler.load_*`. STOP is the loop's own. STRING (protocol 0's quoted
 * str), NEXT_BUFFER and READONLY_BUFFER (out-of-band buffers) have no handler: refused as unsupported.
 */
const HANDLERS_BY_NAME: Readonly<Partial<Record<OpName, Handler>>> = {
  // ---- framing and the stack
  PROTO: (u) => {
    const proto = u.u8();
    if (proto > 5) throw u.bad(`unsupported pickle protocol ${proto} (0 to 5 are known)`);
  },
  // a length prefix for buffering; the opcodes inside read as usual
  FRAME: (u) => u.need(u.u64()),
  MARK: (u) => void u.marks.push(u.stack.length),
  // Python pops a mark when the stack above it is empty
  POP: (u) => void (u.aboveMark() ? u.stack.pop() : u.popMark()),
  POP_MARK: (u) => void u.popMark(),
  DUP: (u) => u.push(u.top()),

  // ---- constants and numbers
  NONE: (u) => u.push(null),
  NEWTRUE: (u) => u.push(true),
  NEWFALSE: (u) => u.push(false),
  BININT1: (u) => u.push(u.u8()),
  BININT2: (u) => u.push(u.u16()),
  BININT: (u) => u.push(u.i32()),
  LONG1: (u) => u.push(decodeLong(u.take(u.u8()))),
  LONG4: (u) => u.push(decodeLong(u.take(u.length4()))),
  // "00"/"01" are protocol 0's False/True
  INT: (u) => {
    const s = u.line();
    u.push(s === '00' ? false : s === '01' ? true : u.textInt(s));
  },
  LONG: (u) => u.push(u.textInt(u.line())),
  BINFLOAT: (u) => u.push(u.float(u.f64())),
  FLOAT: (u) => u.push(u.float(textFloat(u, u.line()))),

  // ---- strings and bytes
  BINUNICODE: (u) => u.push(u.utf8(u.u32())),
  SHORT_BINUNICODE: (u) => u.push(u.utf8(u.u8())),
  BINUNICODE8: (u) => u.push(u.utf8(u.u64())),
  // NOTE: Python 2 `str` is bytes. We read it as latin1 text, which is what keys (ASCII) need and what
  // torch.load(..., encoding='latin1') does; numpy scalars encode it back to the same bytes.
  BINSTRING: (u) => u.push(latin1(u.take(u.length4()))),
  SHORT_BINSTRING: (u) => u.push(latin1(u.take(u.u8()))),
  UNICODE: (u) => u.push(rawUnicode(u, u.line())),
  // copies: fresh, aligned buffers (see plainBytes)
  BINBYTES: (u) => u.push(u.take(u.u32()).slice()),
  SHORT_BINBYTES: (u) => u.push(u.take(u.u8()).slice()),
  BINBYTES8: (u) => u.push(u.take(u.u64()).slice()),
  BYTEARRAY8: (u) => u.push(u.take(u.u64()).slice()),

  // ---- tuples, lists, dicts, sets
  EMPTY_TUPLE: (u) => u.push(new PyTuple([])),
  TUPLE1: (u) => u.push(new PyTuple(popN(u, 1))),
  TUPLE2: (u) => u.push(new PyTuple(popN(u, 2))),
  TUPLE3: (u) => u.push(new PyTuple(popN(u, 3))),
  TUPLE: (u) => u.push(new PyTuple(u.popMark())),
  EMPTY_LIST: (u) => u.push([]),
  LIST: (u) => u.push(u.popMark()),
  APPEND: (u) => {
    const v = u.pop();
    u.asList(u.top()).push(v);
  },
  APPENDS: (u) => {
    const items = u.popMark();
    const list = u.asList(u.top());
    for (const v of items) list.push(v);
  },
  EMPTY_DICT: (u) => u.push(new Map<PyKey, PickleValue>()),
  DICT: (u) => {
    const d = new Map<PyKey, PickleValue>();
    u.setItems(d, u.popMark());
    u.push(d);
  },
  SETITEM: (u) => {
    const [k, v] = popN(u, 2);
    u.setItems(u.asDict(u.top()), [k, v]);
  },
  SETITEMS: (u) => {
    const items = u.popMark();
    u.setItems(u.asDict(u.top()), items);
  },
  EMPTY_SET: (u) => u.push(new Set<PickleValue>()),
  ADDITEMS: (u) => {
    const items = u.popMark();
    const set = u.top();
    if (!(set instanceof Set)) throw u.bad(`cannot add items to ${describePy(set)}`);
    for (const v of items) (set as Set<PickleValue>).add(v);
  },
  FROZENSET: (u) => u.push(new Set(u.popMark())),

  // ---- the memo
  BINPUT: (u) => void u.memo.set(u.u8(), u.top()),
  LONG_BINPUT: (u) => void u.memo.set(u.u32(), u.top()),
  MEMOIZE: (u) => void u.memo.set(u.memo.size, u.top()),
  PUT: (u) => void u.memo.set(textMemoIndex(u, true), u.top()),
  BINGET: (u) => u.push(u.memoGet(u.u8())),
  LONG_BINGET: (u) => u.push(u.memoGet(u.u32())),
  GET: (u) => u.push(u.memoGet(textMemoIndex(u, false))),

  // ---- globals, calls and objects: all through the hooks
  GLOBAL: (u) => {
    const module = u.line();
    const name = u.line();
    u.push(u.hooks.findGlobal(module, name));
  },
  STACK_GLOBAL: (u) => {
    const [module, name] = popN(u, 2);
    if (typeof module !== 'string' || typeof name !== 'string') throw u.bad('STACK_GLOBAL needs two strings');
    u.push(u.hooks.findGlobal(module, name));
  },
  REDUCE: (u) => {
    const args = u.asArgs(u.pop());
    const fn = u.pop();
    u.push(u.hooks.call(fn, args));
  },
  // cls.__new__(cls, *args)
  NEWOBJ: (u) => {
    const args = u.asArgs(u.pop());
    const cls = u.pop();
    u.push(u.hooks.call(cls, args));
  },
  NEWOBJ_EX: (u) => {
    const kwargs = u.pop();
    const args = u.asArgs(u.pop());
    const cls = u.pop();
    if (!(kwargs instanceof Map) || kwargs.size > 0) throw u.bad('keyword arguments are not supported');
    u.push(u.hooks.call(cls, args));
  },
  INST: (u) => {
    const module = u.line();
    const name = u.line();
    const cls = u.hooks.findGlobal(module, name);
    u.push(u.hooks.call(cls, u.popMark()));
  },
  OBJ: (u) => {
    const [cls, ...args] = u.popMark();
    if (cls === undefined) throw u.bad('OBJ without a class');
    u.push(u.hooks.call(cls, args));
  },
  BUILD: (u) => {
    const state = u.pop();
    u.hooks.build(u.top(), state);
  },
  BINPERSID: (u) => u.push(u.hooks.persistentLoad(u.pop())),
  PERSID: (u) => u.push(u.hooks.persistentLoad(u.line())),

  // ---- refused
  EXT1: refuseExtension,
  EXT2: refuseExtension,
  EXT4: refuseExtension,
};

/** {@link HANDLERS_BY_NAME} by opcode byte. */
const HANDLERS: readonly (Handler | undefined)[] = Array.from({ length: 256 }, (_, code) => {
  const name = OPCODE_NAMES[code] as OpName | undefined;
  return name === undefined ? undefined : HANDLERS_BY_NAME[name];
});
