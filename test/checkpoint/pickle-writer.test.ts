import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { plainDataHooks, unpickle } from '../../src/checkpoint/pickle-reader.js';
import { encodeLong, encodePickle } from '../../src/checkpoint/pickle-writer.js';
import { NumpyDType, OrderedDict, PyFloat, PyTuple, type PickleValue, pyFloat } from '../../src/checkpoint/py-values.js';
import { TorchUnpickleHooks } from '../../src/checkpoint/torch-globals.js';
import { UsageError } from '../../src/errors.js';
import { runPython } from '../helpers/python.js';

const dir = mkdtempSync(join(tmpdir(), 'tsm-pickle-w-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sample(): Map<PickleValue & string, PickleValue> {
  const od = new OrderedDict<string, PickleValue>([['b', 1], ['a', pyFloat(2)]]);
  od.attrs = new Map<string, PickleValue>([['_metadata', new OrderedDict([['', new Map([['version', 1]])]])]]);
  return new Map<string, PickleValue>([
    ['ints', [0, 1, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, -(2 ** 53 - 1)]],
    ['bigints', [2n ** 64n, -(2n ** 64n), 7n ** 400n, -(7n ** 400n), 5n]],
    ['floats', [12.5, pyFloat(1), -0, 0.1, Infinity, -Infinity, 1e300]],
    ['strings', ['', 'abc', 'héllo ✓ 😀', 'a\nb\\c\u0000']],
    ['bytes', [new Uint8Array([0, 255, 128]), new Uint8Array(0)]],
    ['tuples', [new PyTuple([]), new PyTuple([1]), new PyTuple([1, 2]), new PyTuple([1, 2, 3]), new PyTuple([1, 2, 3, 4, 5])]],
    ['misc', [null, true, false, [], new Map()]],
    ['od', od],
    ['intkeys', new Map<number, PickleValue>([[0, 'x'], [1, new Map([['momentum_buffer', null]])]]) as unknown as PickleValue],
    ['record', { lr: 0.01, arch: 'resnet50', nested: { deep: [1, 2] } }],
    ['long', Array.from({ length: 2345 }, (_, i) => i)],
  ]);
}

const PY_CANON = `
import collections, math, json, pickle, sys
def canon(v):
    if v is None or isinstance(v, (bool, str)): return v
    if isinstance(v, int): return {'int': str(v)}
    if isinstance(v, float): return {'float': v if math.isfinite(v) else str(v)}
    if isinstance(v, tuple): return {'tuple': [canon(x) for x in v]}
    if isinstance(v, list): return {'list': [canon(x) for x in v]}
    if isinstance(v, bytes): return {'bytes': list(v)}
    if isinstance(v, collections.OrderedDict): return {'od': [[canon(k), canon(x)] for k, x in v.items()], 'attrs': canon(vars(v))}
    if isinstance(v, dict): return {'dict': [[canon(k), canon(x)] for k, x in v.items()]}
    raise TypeError(type(v))
`;

/** The same tagged form in JS; plain objects are dicts, plain numbers int or float as the writer decides. */
function canon(v: PickleValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return { int: String(v) };
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && !Object.is(v, -0) ? { int: String(v) } : canon(new PyFloat(v));
  }
  if (v instanceof PyFloat) return { float: Number.isFinite(v.value) ? v.value : v.value > 0 ? 'inf' : '-inf' };
  if (v instanceof PyTuple) return { tuple: v.items.map(canon) };
  if (Array.isArray(v)) return { list: v.map(canon) };
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (v instanceof OrderedDict) {
    return { od: [...v].map(([k, x]) => [canon(k), canon(x)]), attrs: { dict: [...(v.attrs ?? [])].map(([k, x]) => [k, canon(x)]) } };
  }
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [canon(k), canon(x)]) };
  if (typeof v === 'object') return { dict: Object.entries(v).map(([k, x]) => [k, canon(x)]) };
  throw new Error(`unexpected ${String(v)}`);
}

test('CPython unpickles what we write, with the same types and values', () => {
  const value = sample();
  const path = join(dir, 'sample.pkl');
  writeFileSync(path, encodePickle(value));
  const out = runPython(`${PY_CANON}\nprint(json.dumps(canon(pickle.load(open(sys.argv[1], 'rb')))))`, [path]);
  assert.deepEqual(JSON.parse(out), canon(value));
});

test('our reader reads back what we write (keepFloats keeps 1.0 a float)', () => {
  const value = sample();
  const back = unpickle(encodePickle(value), new TorchUnpickleHooks('w.pkl'), { keepFloats: true }).value;
  const normalized = canon(back);
  // -0 and 1e300 come back as PyFloat, plain objects as dicts: canon() maps both sides alike.
  assert.deepEqual(normalized, canon(value));
  const od = (back as Map<string, PickleValue>).get('od') as OrderedDict;
  assert.ok(od instanceof OrderedDict && od.attrs?.has('_metadata'), 'OrderedDict attributes survive (BUILD)');
});

test('shared containers are written once and come back shared; numpy dtypes round-trip', () => {
  const shared = [1, 2];
  const dt = new NumpyDType('f8');
  dt.byteorder = '<';
  const back = unpickle(encodePickle([shared, shared, dt]), new TorchUnpickleHooks('w.pkl')).value as PickleValue[];
  assert.equal(back[0], back[1]);
  assert.deepEqual(back[2], dt);
});

test('encodeLong matches CPython pickle.encode_long', () => {
  const values = [1n, -1n, 127n, 128n, -128n, -129n, 255n, 256n, 2n ** 63n, -(2n ** 63n), 2n ** 64n - 1n, -(3n ** 100n)];
  const hex = runPython(`import pickle\nfor v in [${values.join(',')}]: print(pickle.encode_long(v).hex())`).trim().split('\n');
  values.forEach((v, i) => assert.equal(Buffer.from(encodeLong(v)).toString('hex'), hex[i], String(v)));
});

test('plain data pickles need no globals at all', () => {
  const bytes = encodePickle(new Map<string, PickleValue>([['a', [1, 'x', new PyTuple([null])]]]));
  assert.deepEqual(unpickle(bytes, plainDataHooks('t.pkl')).value, new Map([['a', [1, 'x', new PyTuple([null])]]]));
});

test('values that cannot be pickled are a UsageError naming where they are', () => {
  const selfTuple = new PyTuple([]);
  (selfTuple.items as PickleValue[]).push(1);
  const loop: PickleValue[] = [];
  const t = new PyTuple([loop]);
  loop.push(t);
  const cases: [unknown, RegExp][] = [
    [{ a: { b: undefined } }, /cannot write nothing at \["a"\]\["b"\]/],
    [[1, () => 0], /cannot write function at \[1\]/],
    [new Map([['s', new Set([1])]]), /set at \["s"\].*sets are not supported; use a list/],
    [new Map([[[1] as unknown as string, 1]]), /dict keys must be/],
    [t, /a tuple cannot contain itself/],
    [new Date(0), /unsupported object/],
  ];
  for (const [v, message] of cases) {
    assert.throws(() => encodePickle(v as PickleValue), (e: unknown) => e instanceof UsageError && message.test(e.message));
  }
});
