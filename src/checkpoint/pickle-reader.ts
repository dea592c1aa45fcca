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

const OPCODE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x46: 'FLOAT', 0x47: 'BINFLOAT', 0x49: 'INT', 0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2',
  0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x5d: 'EMPTY_LIST', 0x61: 'APPEND', 0x62: 'BUILD',
  0x63: 'GLOBAL', 0x64: 'DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE',
  0x75: 'SETITEMS', 0x7d: 'EMPTY_DICT', 0x29: 'EMPTY_TUPLE', 0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1',
  0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE',
  0x8a: 'LONG1', 0x8b: 'LONG4', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8',
  0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE',
  0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
});

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
  bytes = plainBytes(bytes);
  const source = opts.source ?? '<buffer>';
  const keepFloats = opts.keepFloats ?? false;
  const end = bytes.length;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = opts.start ?? 0;
  let opPos = pos;
  let op = 0;
  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();

  const opName = () => OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
  const bad = (what: string) =>
    new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source}: corrupt pickle at byte ${opPos} (${opName()}): ${what}`);
  const need = (n: number) => {
    if (n > end - pos) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_TRUNCATED',
        `${source}: the pickle ends early: ${opName()} at byte ${opPos} needs ${n} more bytes, ${end - pos} are left (truncated file?)`,
      );
    }
  };
  const take = (n: number): Uint8Array => {
    need(n);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), dv.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), dv.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), dv.getInt32(pos - 4, true));
  const u64 = (): number => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    // Any length this large is more than the bytes left; report it as such instead of losing precision.
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  };
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) need(end - pos + 1);
    const s = latin1(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  };
  const utf8 = (b: Uint8Array): string => {
    try {
      return UTF8.decode(b);
    } catch {
      throw bad('string is not valid UTF-8');
    }
  };
  const floor = () => (marks.length > 0 ? marks[marks.length - 1] : 0);
  const pop = (): PickleValue => {
    if (stack.length <= floor()) throw bad('stack underflow');
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length <= floor()) throw bad('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) throw bad('no MARK on the stack');
    return stack.splice(m);
  };
  const memoGet = (i: number): PickleValue => {
    const v = memo.get(i);
    if (v === undefined) throw bad(`memo entry ${i} was never stored`);
    return v;
  };
  const asDict = (v: PickleValue): Map<PyKey, PickleValue> => {
    if (!(v instanceof Map)) throw bad(`cannot set items on ${describePy(v)}`);
    return v as Map<PyKey, PickleValue>;
  };
  const setItems = (dict: Map<PyKey, PickleValue>, items: PickleValue[]) => {
    if (items.length % 2 !== 0) throw bad(`odd number of items (${items.length}) for key/value pairs`);
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i];
      if (!isPyKey(key)) throw bad(`unhashable dict key of type ${describePy(key)}`);
      dict.set(key, items[i + 1]);
    }
  };
  const asList = (v: PickleValue): PickleValue[] => {
    if (!Array.isArray(v)) throw bad(`cannot append to ${describePy(v)}`);
    return v;
  };
  const asArgs = (v: PickleValue): readonly PickleValue[] => {
    if (!(v instanceof PyTuple)) throw bad(`call arguments must be a tuple, got ${describePy(v)}`);
    return v.items;
  };
  const float = (v: number): PickleValue => (keepFloats ? new PyFloat(v) : v);
  const textInt = (s: string): number | bigint => {
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[+-]?\d{1,4300}$/.test(t)) throw bad(`not an integer: ${JSON.stringify(s.slice(0, 40))}`);
    return pyInt(BigInt(t));
  };

  for (;;) {
    opPos = pos;
    op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const proto = u8();
        if (proto > 5) throw bad(`unsupported pickle protocol ${proto} (0 to 5 are known)`);
        break;
      }
      case 0x95: { // FRAME: a length prefix for buffering; the opcodes inside read as usual
        const n = u64();
        need(n);
        break;
      }
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (stack.length > floor()) stack.pop();
        else popMark(); // Python pops a mark when the stack above it is empty
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;

      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(take(u8())));
        break;
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) throw bad(`negative length ${n}`);
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x49: { // INT (text); "00"/"01" are protocol 0's False/True
        const s = line();
        stack.push(s === '00' ? false : s === '01' ? true : textInt(s));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(textInt(line()));
        break;
      case 0x47: // BINFLOAT: big-endian double
        need(8);
        stack.push(float(dv.getFloat64(pos, false)));
        pos += 8;
        break;
      case 0x46: { // FLOAT (text)
        const s = line().trim();
        const v = Number(s === 'inf' ? 'Infinity' : s === '-inf' ? '-Infinity' : s === 'nan' ? 'NaN' : s);
        if (s === '' || (Number.isNaN(v) && s !== 'nan')) throw bad(`not a float: ${JSON.stringify(s.slice(0, 40))}`);
        stack.push(float(v));
        break;
      }

      case 0x58: // BINUNICODE
        stack.push(utf8(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(take(u64())));
        break;
      // NOTE: Python 2 `str` is bytes. We read it as latin1 text, which is what keys (ASCII) need and what
      // torch.load(..., encoding='latin1') does; numpy scalars encode it back to the same bytes.
      case 0x54: { // BINSTRING
        const n = i32();
        if (n < 0) throw bad(`negative length ${n}`);
        stack.push(latin1(take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1(take(u8())));
        break;
      case 0x56: // UNICODE (text): raw-unicode-escape; pickle.py escapes \\, \0, \n, \r as \\uXXXX first
        stack.push(
          line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u4: string | undefined, u8: string | undefined) => {
            const cp = parseInt(u4 ?? u8 ?? '', 16);
            if (cp > 0x10ffff) throw bad(`bad code point \\U${u8}`);
            return String.fromCodePoint(cp);
          }),
        );
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;

      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: { // APPEND
        const v = pop();
        asList(top()).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = asList(top());
        for (const v of items) list.push(v);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map<PyKey, PickleValue>());
        break;
      case 0x64: { // DICT
        const d = new Map<PyKey, PickleValue>();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(asDict(top()), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(asDict(top()), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set<PickleValue>());
        break;
      case 0x90: { // ADDITEMS
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) throw bad(`cannot add items to ${describePy(set)}`);
        for (const v of items) (set as Set<PickleValue>).add(v);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;

      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: { // PUT (text)
        const i = textInt(line());
        if (typeof i !== 'number' || i < 0) throw bad(`bad memo index ${i}`);
        memo.set(i, top());
        break;
      }
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x67: { // GET (text)
        const i = textInt(line());
        if (typeof i !== 'number') throw bad(`bad memo index ${i}`);
        stack.push(memoGet(i));
        break;
      }

      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(hooks.findGlobal(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw bad('STACK_GLOBAL needs two strings');
        stack.push(hooks.findGlobal(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = asArgs(pop());
        const fn = pop();
        stack.push(hooks.call(fn, args));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
        const args = asArgs(pop());
        const cls = pop();
        stack.push(hooks.call(cls, args));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = asArgs(pop());
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size > 0) throw bad('keyword arguments are not supported');
        stack.push(hooks.call(cls, args));
        break;
      }
      case 0x69: { // INST
        const module = line();
        const name = line();
        const cls = hooks.findGlobal(module, name);
        stack.push(hooks.call(cls, popMark()));
        break;
      }
      case 0x6f: { // OBJ
        const [cls, ...args] = popMark();
        if (cls === undefined) throw bad('OBJ without a class');
        stack.push(hooks.call(cls, args));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        hooks.build(top(), state);
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      case 0x50: // PERSID
        stack.push(hooks.persistentLoad(line()));
        break;

      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        throw new CheckpointError(
          'TSM_CHECKPOINT_GLOBAL',
          `${source}: refusing ${opName()} at byte ${opPos}: copyreg extension codes name globals outside the allow-list`,
        );
      default:
        throw bad(
          OPCODE_NAMES[op] ? 'this opcode is not supported in checkpoints' : 'unknown opcode (not a pickle, or a corrupt one)',
        );
    }
  }
}
