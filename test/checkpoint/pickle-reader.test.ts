import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { plainDataHooks, decodeLong, unpickle } from '../../src/checkpoint/pickle-reader.js';
import { OrderedDict, PyFloat, PyTuple, type PickleValue } from '../../src/checkpoint/py-values.js';
import { TorchUnpickleHooks } from '../../src/checkpoint/torch-globals.js';
import { CheckpointError } from '../../src/errors.js';
import { runPython } from '../helpers/python.js';

const dir = mkdtempSync(join(tmpdir(), 'tsm-pickle-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Pickles made by CPython, as hex, one per line. `make(...)` is the object; `protos` the protocols to use. */
function pythonPickles(make: string, protos: readonly number[]): Uint8Array[] {
  const out = runPython(
    `import pickle, sys, collections, math
def make():
${make.replace(/^/gm, '    ')}
for p in [${protos.join(',')}]:
    print(pickle.dumps(make(), protocol=p).hex())`,
  );
  return out.trim().split('\n').map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
}

const load = (bytes: Uint8Array, keepFloats = true) => unpickle(bytes, new TorchUnpickleHooks('t.pkl'), { source: 't.pkl', keepFloats }).value;

/** A JSON-able form that keeps Python's types apart (int/float, list/tuple, dict/OrderedDict, str/bytes). */
function canon(v: PickleValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return { int: String(v) };
  if (v instanceof PyFloat) return { float: Number.isFinite(v.value) ? v.value : String(v.value) };
  if (v instanceof PyTuple) return { tuple: v.items.map(canon) };
  if (Array.isArray(v)) return { list: v.map(canon) };
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (v instanceof Map) return { [v instanceof OrderedDict ? 'od' : 'dict']: [...v].map(([k, x]) => [canon(k), canon(x)]) };
  if (v instanceof Set) return { set: [...v].map(canon) };
  throw new Error(`unexpected ${String(v)}`);
}

const PY_CANON = `
def canon(v):
    if v is None or isinstance(v, (bool, str)): return v
    if isinstance(v, int): return {'int': str(v)}
    if isinstance(v, float): return {'float': v if math.isfinite(v) else ('Infinity' if v > 0 else '-Infinity' if v < 0 else 'NaN')}
    if isinstance(v, tuple): return {'tuple': [canon(x) for x in v]}
    if isinstance(v, list): return {'list': [canon(x) for x in v]}
    if isinstance(v, (bytes, bytearray)): return {'bytes': list(v)}
    if isinstance(v, collections.OrderedDict): return {'od': [[canon(k), canon(x)] for k, x in v.items()]}
    if isinstance(v, dict): return {'dict': [[canon(k), canon(x)] for k, x in v.items()]}
    if isinstance(v, (set, frozenset)): return {'set': [canon(x) for x in v]}
    raise TypeError(type(v))
`;

const DATA = `return {
    'small': 1, 'zero': 0, 'neg': -5, 'i16': 40000, 'i32': 2**31 - 1, 'm32': -2**31, 'i40': 2**40, 'safe': 2**53 - 1,
    'big': 2**70, 'nbig': -2**70 - 3, 'huge': 7**900, 'f': 12.5, 'one': 1.0, 'nf': -0.0, 'inf': float('inf'), 'tiny': 5e-324,
    's': 'héllo ✓ \\n\\\\ \\u0000 \\U0001F600', 'empty': '', 'b': b'\\x00\\xff\\x80ab', 'l': [1, [2, 3], []],
    't': (1, 'a'), 't4': (1, 2, 3, 4), 'e': (), 'none': None, 'bools': [True, False],
    'od': collections.OrderedDict([('a', 1), ('b', [2.5])]), 'intkeys': {0: 'x', 1: 'y', -1: 'z'}, 'tkey': {(1, 2): 'p'},
    'many': list(range(2500)), 'bigdict': {str(i): i for i in range(1200)},
}`;

test('reads plain data written by CPython with protocols 0 to 5, keeping int/float, list/tuple and dict/OrderedDict apart', () => {
  const protos = [0, 1, 2, 3, 4, 5];
  const pickles = pythonPickles(DATA, protos);
  const expected = JSON.parse(
    runPython(`import json, collections, math\n${PY_CANON}\ndef make():\n${DATA.replace(/^/gm, '    ')}\nprint(json.dumps(canon(make())))`),
  ) as unknown;
  pickles.forEach((bytes, i) => {
    const v = load(bytes);
    assert.deepEqual(canon(v), expected, `protocol ${protos[i]}`);
  });
  // Without keepFloats, floats are plain numbers.
  const plain = load(pickles[2], false) as Map<string, PickleValue>;
  assert.equal(plain.get('f'), 12.5);
  assert.equal(plain.get('one'), 1);
  assert.equal(plain.get('big'), 2n ** 70n);
  assert.equal(plain.get('safe'), 2 ** 53 - 1);
});

test('sets and frozensets (protocol 4 opcodes) and bytearrays (protocol 5) read as Set and Uint8Array', () => {
  const [p4, p5] = pythonPickles(`return [{1, 2, 'a'}, frozenset([3])]`, [4, 5]);
  for (const bytes of [p4, p5]) {
    const [s, fs] = load(bytes) as PickleValue[];
    assert.deepEqual(s, new Set([1, 2, 'a']));
    assert.deepEqual(fs, new Set([3]));
  }
  const [ba] = pythonPickles(`return bytearray(b'xyz')`, [5]);
  assert.deepEqual(load(ba), new TextEncoder().encode('xyz'));
});

test('shared and self-referencing containers keep their identity through the memo', () => {
  const [p2, p4] = pythonPickles(`x = [1]\nl = [x, x]\nl.append(l)\nd = {}\nd['me'] = d\nreturn [l, d]`, [2, 4]);
  for (const bytes of [p2, p4]) {
    const [l, d] = load(bytes) as [PickleValue[], Map<string, PickleValue>];
    assert.equal(l[0], l[1], 'same inner list');
    assert.equal(l[2], l, 'list contains itself');
    assert.equal(d.get('me'), d, 'dict contains itself');
  }
});

/** Builds a pickle from opcode bytes and strings (strings are written as latin1 bytes). */
const bytesOf = (...parts: (number | string | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'number' ? [p] : typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));

test('hand-made opcodes: FRAME, BINUNICODE8, BINBYTES8, LONG4, POP, POP_MARK, DUP, DICT, LIST, INT/LONG/FLOAT text', () => {
  const le64 = (n: number) => [n, 0, 0, 0, 0, 0, 0, 0];
  const cases: [Uint8Array, unknown][] = [
    [bytesOf(0x80, 4, 0x95, le64(6), 0x8d, le64(2), 'hi', 0x2e), 'hi'],
    [bytesOf(0x80, 4, 0x8e, le64(3), [1, 2, 3], 0x2e), new Uint8Array([1, 2, 3])],
    [bytesOf(0x8b, [2, 0, 0, 0], [0x00, 0x80], 0x2e), -32768],
    [bytesOf(0x4b, 1, 0x4b, 2, 0x30, 0x2e), 1], // POP
    [bytesOf(0x4b, 1, 0x28, 0x4b, 2, 0x4b, 3, 0x31, 0x2e), 1], // POP_MARK
    [bytesOf(0x5d, 0x32, 0x86, 0x2e), 'dup'], // DUP: a tuple of the same list twice
    [bytesOf(0x28, 'U', 1, 'k', 0x4b, 7, 0x64, 0x2e), new Map([['k', 7]])], // DICT (+ SHORT_BINSTRING)
    [bytesOf(0x28, 0x4b, 7, 0x88, 0x6c, 0x2e), [7, true]], // LIST
    [bytesOf('I01\n', 'I-12\n', 'L123456789012345678901234567890L\n', 'F2.5\n', 0x87, 0x2e), 'text'],
    [bytesOf('I00\n.'), false],
    [bytesOf(0x28, 'lp0\nI1\naI2\nag0\na', 0x2e), 'getput'], // LIST, PUT, APPEND, GET (protocol 0 list)
    [bytesOf(0x8a, 0, 0x2e), 0], // LONG1 of zero bytes
    [bytesOf(0x8a, 1, 0xff, 0x2e), -1],
  ];
  for (const [bytes, want] of cases) {
    const v = load(bytes, false);
    if (want === 'dup') {
      const t = v as PyTuple;
      assert.equal(t.items[0], t.items[1]);
    } else if (want === 'text') {
      assert.deepEqual((v as PyTuple).items, [-12, 123456789012345678901234567890n, 2.5]); // I01 (True) stays below
    } else if (want === 'getput') {
      const l = v as PickleValue[];
      assert.deepEqual(l.slice(0, 2), [1, 2]);
      assert.equal(l[2], l);
    } else {
      assert.deepEqual(v, want, `${[...bytes].map((b) => b.toString(16)).join(' ')}`);
    }
  }
});

test('decodeLong is two\'s complement little-endian', () => {
  assert.equal(decodeLong(new Uint8Array([0xff, 0x00])), 255);
  assert.equal(decodeLong(new Uint8Array([0x00, 0xff])), -256);
  assert.equal(decodeLong(new Uint8Array(9).fill(0xff)), -1);
  assert.equal(decodeLong(Uint8Array.from([...new Uint8Array(9)].map((_, i) => (i === 8 ? 1 : 0)))), 2n ** 64n);
});

const isError = (code: string, ...parts: (string | RegExp)[]) => (e: unknown) => {
  assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  for (const p of parts) assert.ok(typeof p === 'string' ? e.message.includes(p) : p.test(e.message), `"${e.message}" lacks ${String(p)}`);
  return true;
};

test('globals outside the allow-list are refused by name and never run', () => {
  const marker = join(dir, 'pwned');
  // The classic payload: os.system('touch <marker>'), as GLOBAL (protocol 2), STACK_GLOBAL (4) and INST (0).
  const hex = runPython(
    `import pickle, os, sys
class Evil:
    def __reduce__(self): return (os.system, ('touch ' + sys.argv[1],))
class Old: pass
for p in (0, 2, 4): print(pickle.dumps(Evil(), protocol=p).hex())
print(pickle.dumps(eval, protocol=2).hex())`,
    [marker],
  );
  const [p0, p2, p4, evalPickle] = hex.trim().split('\n').map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
  for (const bytes of [p0, p2, p4]) {
    assert.throws(() => load(bytes), isError('TSM_CHECKPOINT_GLOBAL', 't.pkl', 'posix.system', 'allowed: collections.OrderedDict'));
  }
  assert.throws(() => load(evalPickle), isError('TSM_CHECKPOINT_GLOBAL', '__builtin__.eval'));
  assert.throws(() => load(bytesOf('ctorch\nload\n', 0x2e)), isError('TSM_CHECKPOINT_GLOBAL', 'torch.load'));
  assert.throws(() => load(bytesOf('cbuiltins\nset\n', 0x2e)), isError('TSM_CHECKPOINT_GLOBAL', 'builtins.set'));
  assert.throws(() => load(bytesOf(0x82, 1, 0x2e)), isError('TSM_CHECKPOINT_GLOBAL', 'EXT1'));
  assert.throws(() => unpickle(bytesOf('ccollections\nOrderedDict\n', 0x2e), plainDataHooks('t.pkl')), isError('TSM_CHECKPOINT_GLOBAL', 'collections.OrderedDict'));
  assert.equal(existsSync(marker), false, 'nothing was executed');
});

test('malformed pickles fail with TSM_CHECKPOINT_FORMAT naming the offset and opcode', () => {
  const cases: [Uint8Array, string, ...(string | RegExp)[]][] = [
    [bytesOf(0xff), 'TSM_CHECKPOINT_FORMAT', 'byte 0', 'unknown opcode'],
    [bytesOf(0x80, 9, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'unsupported pickle protocol 9'],
    [bytesOf(0x2e), 'TSM_CHECKPOINT_FORMAT', 'STOP', 'stack underflow'],
    [bytesOf(0x4b, 1, 0x74, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'TUPLE', 'no MARK'],
    [bytesOf(0x68, 3, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'memo entry 3 was never stored'],
    [bytesOf(0x7d, 0x5d, 0x4b, 1, 0x73, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'unhashable dict key of type list'],
    [bytesOf(0x5d, 0x4b, 1, 0x4b, 1, 0x73, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'cannot set items on list'],
    [bytesOf(0x7d, 0x4b, 1, 0x61, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'cannot append to dict'],
    [bytesOf(0x7d, 0x28, 0x4b, 1, 0x75, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'odd number of items'],
    [bytesOf('ccollections\nOrderedDict\n', 0x5d, 0x52, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'REDUCE', 'must be a tuple'],
    [bytesOf(0x4b, 1, 0x29, 0x52, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'int, which is not callable'],
    [bytesOf('ctorch\nFloatStorage\n', 0x29, 0x52, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'torch.FloatStorage is a type reference'],
    [bytesOf('ctorch\nBFloat16Storage\n', 0x2e), 'TSM_CHECKPOINT_FORMAT', 'storage type torch.BFloat16Storage is not supported'],
    [bytesOf(0x58, [2, 0, 0, 0], [0xc3, 0x28], 0x2e), 'TSM_CHECKPOINT_FORMAT', 'not valid UTF-8'],
    [bytesOf(0x58, [0xff, 0xff, 0xff, 0xff], 0x2e), 'TSM_CHECKPOINT_TRUNCATED', 'BINUNICODE', 'needs 4294967295 more bytes'],
    [bytesOf(0x95, [0, 0, 0, 0, 0, 0, 0, 1]), 'TSM_CHECKPOINT_TRUNCATED', 'FRAME'],
    [bytesOf(0x4b, 1), 'TSM_CHECKPOINT_TRUNCATED', 'needs 1 more bytes'],
    [bytesOf('ccollections\nOrderedD'), 'TSM_CHECKPOINT_TRUNCATED', 'GLOBAL'],
    [bytesOf(0x4b, 1, 0x51, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'unsupported persistent id int'],
    [bytesOf(0x97, 0x2e), 'TSM_CHECKPOINT_FORMAT', 'NEXT_BUFFER', 'not supported'],
    [bytesOf('S\'abc\'\n.'), 'TSM_CHECKPOINT_FORMAT', 'STRING', 'not supported'],
    [bytesOf('Iabc\n.'), 'TSM_CHECKPOINT_FORMAT', 'not an integer'],
    [bytesOf('Fx\n.'), 'TSM_CHECKPOINT_FORMAT', 'not a float'],
  ];
  for (const [bytes, code, ...parts] of cases) assert.throws(() => load(bytes), isError(code, 't.pkl', ...parts));
});

test('every truncation of a real pickle is a CheckpointError, never another exception', () => {
  const [bytes] = pythonPickles(DATA, [2]);
  for (let n = 0; n < bytes.length; n += 41) {
    assert.throws(() => load(bytes.subarray(0, n)), (e: unknown) => e instanceof CheckpointError);
  }
});
