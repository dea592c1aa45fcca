import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parsePth } from '../../src/checkpoint/pth-reader.js';
import { readPth, writePth } from '../../src/checkpoint/read-file.js';
import { encodePth } from '../../src/checkpoint/pth-writer.js';
import { OrderedDict, PyTuple, type PickleValue, pyFloat } from '../../src/checkpoint/py-values.js';
import { extractStateDict } from '../../src/checkpoint/state-dict.js';
import { ZipReader } from '../../src/checkpoint/zip.js';
import { CheckpointError, UsageError } from '../../src/errors.js';
import { type HostTensor, float32, hostTensor } from '../../src/tensor/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { runPython } from '../helpers/python.js';

const dir = mkdtempSync(join(tmpdir(), 'tsm-pth-w-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const hex = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('hex');

function tensors(): Map<string, HostTensor> {
  const shared = new Float32Array([1, 2, 3, 4, 5, 6]);
  return new Map<string, HostTensor>([
    ['weight', float32([2, 3], [0.5, -1, 2, 3.25, 1e-8, -0])],
    ['bias', float32([2], [0.125, -7])],
    ['shared_a', hostTensor('float32', [6], shared)],
    ['shared_b', hostTensor('float32', [2, 3], shared)],
    ['f64', hostTensor('float64', [3], new Float64Array([Math.PI, -1e300, Number.MIN_VALUE]))],
    ['f16', hostTensor('float16', [2], new Uint16Array([0x3c00, 0xc000]))],
    ['i64', hostTensor('int64', [3], new BigInt64Array([0n, -(2n ** 63n), 2n ** 62n + 1n]))],
    ['i32', hostTensor('int32', [1, 2], new Int32Array([-5, 2 ** 31 - 1]))],
    ['i8', hostTensor('int8', [2], new Int8Array([-128, 127]))],
    ['u8', hostTensor('uint8', [2], new Uint8Array([0, 255]))],
    ['flags', hostTensor('bool', [3], new Uint8Array([1, 0, 1]))],
    ['scalar', float32([], [42])],
    ['empty', float32([0, 4])],
    ['num_batches_tracked', hostTensor('int64', [], new BigInt64Array([3n]))],
  ]);
}

const PY_DUMP = `
import torch, json, sys, collections
def canon(v):
    if isinstance(v, torch.Tensor):
        return {'tensor': str(v.dtype).replace('torch.', ''), 'shape': list(v.shape), 'hex': v.numpy().tobytes().hex(), 'contig': v.is_contiguous()}
    if v is None or isinstance(v, (bool, str)): return v
    if isinstance(v, int): return {'int': str(v)}
    if isinstance(v, float): return {'float': v}
    if isinstance(v, tuple): return {'tuple': [canon(x) for x in v]}
    if isinstance(v, list): return {'list': [canon(x) for x in v]}
    if isinstance(v, bytes): return {'bytes': list(v)}
    if isinstance(v, dict): return {'od' if isinstance(v, collections.OrderedDict) else 'dict': [[canon(k), canon(x)] for k, x in v.items()]}
    raise TypeError(type(v))
`;

function canon(v: PickleValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return { int: String(v) };
  if (typeof v === 'number') return Number.isSafeInteger(v) && !Object.is(v, -0) ? { int: String(v) } : { float: v };
  if (v instanceof PyTuple) return { tuple: v.items.map(canon) };
  if (Array.isArray(v)) return { list: v.map(canon) };
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (v instanceof Map) return { [v instanceof OrderedDict ? 'od' : 'dict']: [...v].map(([k, x]) => [canon(k), canon(x)]) };
  if (typeof v === 'object' && 'dtype' in v && 'data' in v) {
    const t = v as HostTensor;
    return { tensor: t.dtype, shape: t.shape, hex: hex(t), contig: true };
  }
  if (typeof v === 'object' && 'value' in v) return { float: (v as { value: number }).value };
  if (typeof v === 'object') return { dict: Object.entries(v).map(([k, x]) => [canon(k), canon(x)]) };
  throw new Error(String(v));
}

function checkpoint(): { stateDict: Map<string, HostTensor>; meta: Record<string, PickleValue> } {
  const sd = tensors();
  const momentum = float32([2], [0.1, 0.2]);
  return {
    stateDict: sd,
    meta: {
      epoch: 3,
      arch: 'resnet50',
      optimizer: new Map<string, PickleValue>([
        ['state', new Map<number, PickleValue>([[0, new Map([['momentum_buffer', momentum]])]]) as unknown as PickleValue],
        ['param_groups', [{ lr: 0.01, momentum: 0.9, betas: new PyTuple([0.9, 0.999]), weight_decay: pyFloat(0), params: [0, 1] }]],
      ]),
      best_prec1: pyFloat(50),
      note: 'héllo',
      big: 2n ** 70n,
      blob: new Uint8Array([0, 1, 255]),
      nothing: null,
    },
  };
}

test('torch.load reads what we write, in both formats, with every dtype, shared storages and nested meta', async () => {
  for (const format of ['zip', 'legacy'] as const) {
    const path = join(dir, `ours_${format}.pth`);
    const contents = checkpoint();
    await writePth(path, contents, { format });
    const out = runPython(
      `${PY_DUMP}
ck = torch.load(sys.argv[1])
sd = ck['state_dict']
assert list(ck.keys()) == ['epoch', 'arch', 'state_dict', 'optimizer', 'best_prec1', 'note', 'big', 'blob', 'nothing'], list(ck.keys())
assert sd['shared_a'].data_ptr() == sd['shared_b'].data_ptr(), 'one storage'
assert sd['weight'].data_ptr() != sd['bias'].data_ptr()
lin = torch.nn.Linear(3, 2)
lin.load_state_dict({'weight': sd['weight'], 'bias': sd['bias']})
print(json.dumps(canon(ck)))`,
      [path],
    );
    const root = new Map<string, PickleValue>([
      ['epoch', 3],
      ['arch', 'resnet50'],
      ['state_dict', new OrderedDict<string, PickleValue>(contents.stateDict)],
      ...Object.entries(contents.meta).filter(([k]) => k !== 'epoch' && k !== 'arch'),
    ]);
    assert.deepEqual(JSON.parse(out), canon(root), format);
  }
});

test('a fixture survives load -> write -> load with the same keys, bytes and meta (and torch agrees)', async () => {
  for (const name of ['tsm_mobilenetv2_legacy.pth', 'online_mobilenetv2_state_dict.pth']) {
    const original = await readPth(fixturePath(name));
    const { stateDict, meta } = extractStateDict(original);
    const isPlain = Object.keys(meta).length === 0;
    const out = join(dir, `rt_${name}`);
    await writePth(out, { stateDict, meta: isPlain ? undefined : meta });
    const again = extractStateDict(await readPth(out));
    assert.deepEqual([...again.stateDict.keys()], [...stateDict.keys()]);
    for (const [k, t] of stateDict) {
      const u = again.stateDict.get(k)!;
      assert.equal(u.dtype, t.dtype);
      assert.deepEqual(u.shape, t.shape);
      assert.equal(hex(u), hex(t), k);
    }
    assert.deepEqual(again.meta, meta);
    // The whole root too: OrderedDict attributes (_metadata) and all.
    const rootCopy = parsePth(encodePth({ root: original.root }), 'copy');
    assert.deepEqual(canon(rootCopy.root), canon(original.root));
    const same = runPython(
      `import torch, sys
a, b = torch.load(sys.argv[1]), torch.load(sys.argv[2])
sa, sb = (a['state_dict'], b['state_dict']) if 'state_dict' in a else (a, b)
assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
assert {k: v for k, v in a.items() if k != 'state_dict'} == {k: v for k, v in b.items() if k != 'state_dict'} if 'state_dict' in a else True
print(len(sa))`,
      [fixturePath(name), out],
    );
    assert.equal(Number(same), stateDict.size);
  }
});

test('the zip layout is torch\'s: archive/data.pkl, data/<key>, version 3, byteorder little; archiveName renames the folder', () => {
  const bytes = encodePth({ stateDict: { w: float32([2], [1, 2]) } });
  const zip = new ZipReader(bytes, 'x');
  assert.deepEqual([...zip.entries.keys()], ['archive/data.pkl', 'archive/byteorder', 'archive/data/0', 'archive/version']);
  assert.equal(new TextDecoder().decode(zip.read('archive/version')), '3\n');
  assert.equal(new TextDecoder().decode(zip.read('archive/byteorder')), 'little');
  const named = new ZipReader(encodePth({ stateDict: { w: float32([1]) } }, { archiveName: 'tsm_ckpt' }), 'x');
  assert.ok(named.has('tsm_ckpt/data.pkl'));
  // A plain state dict is an OrderedDict at the top, like torch.save(model.state_dict()).
  assert.ok(parsePth(bytes).root instanceof OrderedDict);
});

test('writePth is atomic: no temporary files are left, and a failed write leaves nothing behind', async () => {
  const sub = join(dir, 'atomic');
  mkdirSync(sub);
  const target = join(sub, 'ckpt.pth');
  await writePth(target, { stateDict: { w: float32([1], [1]) } });
  await writePth(target, { stateDict: { w: float32([1], [2]) } });
  assert.deepEqual(readdirSync(sub), ['ckpt.pth']);
  assert.equal((extractStateDict(parsePth(readFileSync(target))).stateDict.get('w')!.data as Float32Array)[0], 2);
  const blocked = join(sub, 'is_a_dir');
  mkdirSync(blocked);
  await assert.rejects(writePth(blocked, { stateDict: {} }), (e: unknown) => e instanceof CheckpointError && e.code === 'TSM_CHECKPOINT_IO' && e.message.includes(blocked));
  assert.deepEqual(readdirSync(sub).sort(), ['ckpt.pth', 'is_a_dir']);
});

test('bad contents are refused before anything is written', () => {
  const w = float32([2], [1, 2]);
  const cases: [() => unknown, (e: unknown) => boolean][] = [
    [() => encodePth({ stateDict: { w }, meta: { state_dict: 1 } }), (e) => e instanceof UsageError && /meta must not contain "state_dict"/.test(e.message)],
    [() => encodePth({ stateDict: { w: [1, 2] as unknown as HostTensor } }), (e) => e instanceof UsageError && /stateDict\["w"\] is not a HostTensor/.test(e.message)],
    [
      () => encodePth({ stateDict: { w: { dtype: 'float32', shape: [3], data: new Float32Array(2) } } }),
      (e) => e instanceof CheckpointError && e.code === 'TSM_CHECKPOINT_SHAPE' && /shape \[3\] \(3 elements\) with 2 data elements/.test(e.message),
    ],
    [() => encodePth({ stateDict: { w } }, { format: 'tar' as 'zip' }), (e) => e instanceof UsageError && /for format/.test(e.message)],
    [() => encodePth({ stateDict: { w } }, { archiveName: 'a/b' }), (e) => e instanceof UsageError && /archiveName/.test(e.message)],
    [() => encodePth({ stateDict: { w }, meta: { f: (() => 1) as unknown as PickleValue } }), (e) => e instanceof UsageError && /\["f"\]/.test(e.message)],
  ];
  for (const [fn, check] of cases) assert.throws(fn, check);
});
