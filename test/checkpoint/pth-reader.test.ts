import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseNpy } from '../../src/checkpoint/npy.js';
import { encodePickle } from '../../src/checkpoint/pickle-writer.js';
import { type PthFile, LEGACY_MAGIC_NUMBER, parsePth } from '../../src/checkpoint/pth-reader.js';
import { readPth } from '../../src/checkpoint/read-file.js';
import { encodePth } from '../../src/checkpoint/pth-writer.js';
import { OrderedDict, PyTuple, type PickleValue, isHostTensor } from '../../src/checkpoint/py-values.js';
import { extractStateDict } from '../../src/checkpoint/state-dict.js';
import { ZipReader, encodeZip } from '../../src/checkpoint/zip.js';
import { CheckpointError } from '../../src/errors.js';
import { type HostTensor, float32 } from '../../src/tensor/index.js';
import { fixtureCase, fixturePath } from '../helpers/fixtures.js';
import { runPython } from '../helpers/python.js';
import { TORCH_CASE_TENSORS, makeTorchCases } from './torch-cases.js';

const dir = mkdtempSync(join(tmpdir(), 'tsm-pth-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let cases: ReturnType<typeof makeTorchCases>;
before(() => {
  cases = makeTorchCases(dir);
});

const bytesOf = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

interface KeyLists {
  first5: string[];
  last5: string[];
  around_first_shifted_conv: string[];
  shifted_conv_weight_keys_first3: string[];
  count: number;
}

/** Checks names against the manifest: count, first/last five, and that the listed runs are consecutive. */
function assertKeys(keys: string[], want: KeyLists, what: string): void {
  assert.equal(keys.length, want.count, `${what}: key count`);
  assert.deepEqual(keys.slice(0, 5), want.first5, `${what}: first keys`);
  assert.deepEqual(keys.slice(-5), want.last5, `${what}: last keys`);
  if (want.around_first_shifted_conv.length > 0) {
    const at = keys.indexOf(want.around_first_shifted_conv[0]);
    assert.deepEqual(keys.slice(at, at + want.around_first_shifted_conv.length), want.around_first_shifted_conv, `${what}: run`);
    const shifted = keys.filter((k) => /(conv\.0|conv1)\.net\.weight$/.test(k)).slice(0, 3);
    assert.deepEqual(shifted, want.shifted_conv_weight_keys_first3, `${what}: first shifted convs`);
  }
}

type TorchSummary = Record<string, [number[], string, number]>;

/** For each `[path, stateDictKey | '-']`: name -> [shape, dtype, float64 sum] as torch.load sees it (one Python run). */
function torchSummaries(files: readonly [string, string][]): TorchSummary[] {
  const out = runPython(
    `import torch, json, sys
for path, key in zip(sys.argv[1::2], sys.argv[2::2]):
    o = torch.load(path, map_location='cpu')
    sd = o[key] if key != '-' else o
    print(json.dumps({k: [list(v.shape), str(v.dtype).replace('torch.', ''), float(v.double().sum())] for k, v in sd.items()}))`,
    files.flat(),
  );
  return out.trim().split('\n').map((line) => JSON.parse(line) as TorchSummary);
}

let summaries: Map<string, TorchSummary> | undefined;
/** torch's view of the three fixture checkpoints, computed once. */
function torchSummary(name: string): TorchSummary {
  if (!summaries) {
    const files: [string, string][] = [
      [fixturePath('tsm_mobilenetv2.pth'), 'state_dict'],
      [fixturePath('tsm_resnet50.pth'), 'state_dict'],
      [fixturePath('online_mobilenetv2_state_dict.pth'), '-'],
    ];
    const all = torchSummaries(files);
    summaries = new Map(files.map(([p], i) => [p, all[i]]));
  }
  const s = summaries.get(fixturePath(name));
  assert.ok(s, `no torch summary for ${name}`);
  return s;
}

function sum(t: HostTensor): number {
  let s = 0;
  const d = t.data;
  if (d instanceof BigInt64Array) for (let i = 0; i < d.length; i++) s += Number(d[i]);
  else for (let i = 0; i < d.length; i++) s += (d as Float32Array)[i];
  return s;
}

function assertMatchesTorch(sd: Map<string, HostTensor>, summary: TorchSummary, what: string): void {
  assert.deepEqual([...sd.keys()], Object.keys(summary), `${what}: keys in torch's order`);
  for (const [k, t] of sd) {
    const [shape, dtype, s] = summary[k];
    assert.deepEqual(t.shape, shape, `${what}: shape of ${k}`);
    assert.equal(t.dtype, dtype, `${what}: dtype of ${k}`);
    assert.ok(Math.abs(sum(t) - s) <= 1e-6 * (1 + Math.abs(s)) + 1e-6 * t.data.length, `${what}: sum of ${k} is ${sum(t)}, torch says ${s}`);
  }
}

test('tsm_mobilenetv2: zip and legacy fixtures give the manifest keys, torch\'s shapes and identical values', async () => {
  const c = fixtureCase('tsm_mobilenetv2');
  const files = c.files as Record<string, string>;
  const ckpt = c.checkpoint as { top_level_keys: string[]; epoch: number; arch: string; best_prec1: number; state_dict_keys: KeyLists };
  const zip = await readPth(fixturePath(files.checkpoint_zip));
  const legacy = await readPth(fixturePath(files.checkpoint_legacy));
  assert.equal(zip.format, 'zip');
  assert.equal(legacy.format, 'legacy');
  for (const file of [zip, legacy]) {
    assert.deepEqual([...(file.root as Map<string, PickleValue>).keys()], ckpt.top_level_keys);
    const { stateDict, meta } = extractStateDict(file);
    assertKeys([...stateDict.keys()], ckpt.state_dict_keys, file.format);
    assert.deepEqual({ epoch: meta.epoch, arch: meta.arch, best_prec1: meta.best_prec1 }, { epoch: ckpt.epoch, arch: ckpt.arch, best_prec1: ckpt.best_prec1 });
    assert.deepEqual(stateDict.get('module.base_model.features.0.0.weight')?.shape, [32, 3, 3, 3]);
    assert.deepEqual(stateDict.get('module.new_fc.weight')?.shape, [27, 1280]);
    assert.equal(stateDict.get('module.base_model.features.0.1.num_batches_tracked')?.dtype, 'int64');
    // torch attaches per-module versions as the state dict's _metadata attribute; we keep it.
    const sd = (file.root as Map<string, PickleValue>).get('state_dict') as OrderedDict;
    assert.ok(sd instanceof OrderedDict && sd.attrs?.get('_metadata') instanceof OrderedDict);
  }
  assertMatchesTorch(extractStateDict(zip).stateDict, torchSummary(files.checkpoint_zip), 'zip');
  const a = extractStateDict(zip).stateDict;
  const b = extractStateDict(legacy).stateDict;
  for (const [k, t] of a) {
    assert.deepEqual(b.get(k)?.shape, t.shape, k);
    assert.ok(bytesOf(t).equals(bytesOf(b.get(k)!)), `${k}: same bytes in both formats`);
  }
});

test('tsm_resnet50.pth loads its 320 keys with torch\'s shapes and values', async () => {
  const c = fixtureCase('tsm_resnet50');
  const name = (c.files as Record<string, string>).checkpoint_zip;
  const ckpt = c.checkpoint as { epoch: number; arch: string; best_prec1: number; state_dict_keys: KeyLists };
  const { stateDict, meta } = extractStateDict(await readPth(fixturePath(name)));
  assertKeys([...stateDict.keys()], ckpt.state_dict_keys, 'resnet50');
  assert.deepEqual([meta.epoch, meta.arch, meta.best_prec1], [ckpt.epoch, ckpt.arch, ckpt.best_prec1]);
  assertMatchesTorch(stateDict, torchSummary(name), 'resnet50');
});

test('online_mobilenetv2_state_dict.pth is a plain state dict without a prefix', async () => {
  const c = fixtureCase('online_mobilenetv2');
  const name = (c.files as Record<string, string>).state_dict;
  const file = await readPth(fixturePath(name));
  assert.ok(file.root instanceof OrderedDict);
  const { stateDict, meta } = extractStateDict(file);
  assert.deepEqual(meta, {});
  assertKeys([...stateDict.keys()], c.state_dict_keys as KeyLists, 'online');
  assertMatchesTorch(stateDict, torchSummary(name), 'online');
});

test('every dtype, strided and offset views, shared storages, parameters, 0-d and empty tensors load as torch has them', async () => {
  for (const path of [cases.zip, cases.legacy]) {
    const file = await readPth(path);
    const root = file.root as Map<string, PickleValue>;
    const tensors = root.get('tensors') as Map<string, HostTensor>;
    assert.deepEqual([...tensors.keys()], [...TORCH_CASE_TENSORS]);
    for (const name of TORCH_CASE_TENSORS) {
      const want = parseNpy(readFileSync(join(dir, `${name}.npy`)));
      const got = tensors.get(name)!;
      assert.equal(got.dtype, want.dtype, `${file.format} ${name}: dtype`);
      assert.deepEqual(got.shape, want.shape, `${file.format} ${name}: shape`);
      assert.ok(bytesOf(got).equals(bytesOf(want)), `${file.format} ${name}: values`);
    }
    assert.notEqual(tensors.get('shared_base')!.data.buffer, tensors.get('shared_view')!.data.buffer, 'views of one storage come out as separate copies');
  }
});

test('numpy scalars, namespaces, torch.Size and optimizer state come out as plain values', async () => {
  for (const path of [cases.zip, cases.legacy]) {
    const file = await readPth(path);
    const root = file.root as Map<string, PickleValue>;
    assert.equal(root.get('best_prec1'), 12.5);
    assert.equal(root.get('np_f32'), 0.25);
    assert.equal(root.get('np_i64'), -7);
    assert.equal(root.get('np_bool'), true);
    assert.deepEqual({ ...(root.get('args') as object) }, { lr: 0.01, arch: 'resnet50', segments: 8 });
    assert.deepEqual(root.get('size'), new PyTuple([2, 3]));
    const opt = root.get('optimizer') as Map<string, PickleValue>;
    const state = opt.get('state') as Map<number, Map<string, HostTensor>>;
    assert.deepEqual([...state.keys()], [0, 1], 'int keys stay ints');
    const momentum = state.get(0)!.get('momentum_buffer')!;
    assert.ok(bytesOf(momentum).equals(bytesOf(parseNpy(readFileSync(join(dir, 'momentum.npy'))))));
    const group = (opt.get('param_groups') as Map<string, PickleValue>[])[0];
    assert.equal(group.get('lr'), 0.1);
    assert.deepEqual(group.get('params'), [0, 1]);
    const { stateDict, meta } = extractStateDict(file);
    assert.deepEqual([...stateDict.keys()], ['weight', 'bias']);
    assert.deepEqual([meta.epoch, meta.arch, meta.best_prec1], [7, 'resnet50', 12.5]);
    assert.ok(meta.optimizer instanceof Map);
  }
});

const isError = (code: string, ...parts: (string | RegExp)[]) => (e: unknown) => {
  assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${String((e as Error)?.stack ?? e)}`);
  assert.equal(e.code, code, e.message);
  for (const p of parts) assert.ok(typeof p === 'string' ? e.message.includes(p) : p.test(e.message), `"${e.message}" lacks ${String(p)}`);
  return true;
};

test('files from torch that we refuse say why: a pickled nn.Module, bfloat16 storages', async () => {
  await assert.rejects(readPth(cases.wholeModule), isError('TSM_CHECKPOINT_GLOBAL', cases.wholeModule, 'torch.nn.modules.linear.Linear', 'state_dict()'));
  for (const p of [cases.bf16, cases.bf16Legacy]) {
    await assert.rejects(readPth(p), isError('TSM_CHECKPOINT_FORMAT', p, 'torch.BFloat16Storage is not supported'));
  }
});

/** A small checkpoint in both formats, written by us. */
function small(format: 'zip' | 'legacy'): Uint8Array {
  return encodePth({ stateDict: { w: float32([2, 2], [1, 2, 3, 4]), b: float32([2], [5, 6]) }, meta: { epoch: 1 } }, { format });
}

/** Rebuilds a zip checkpoint with its records changed by `edit`. */
function rezip(bytes: Uint8Array, edit: (records: { name: string; data: Uint8Array }[]) => { name: string; data: Uint8Array }[]): Uint8Array {
  const zip = new ZipReader(bytes, 'x');
  return encodeZip(edit([...zip.entries.keys()].map((name) => ({ name, data: zip.read(name) }))));
}

test('bad files fail with a CheckpointError naming the file and the problem', () => {
  const zip = small('zip');
  const legacy = small('legacy');
  const withPickle = (edit: (p: Buffer) => Buffer) =>
    rezip(zip, (rs) => rs.map((r) => (r.name.endsWith('data.pkl') ? { ...r, data: edit(Buffer.from(r.data)) } : r)));
  const replaceOnce = (p: Buffer, from: Buffer, to: Buffer) => {
    const at = p.indexOf(from);
    assert.ok(at >= 0);
    return Buffer.concat([p.subarray(0, at), to, p.subarray(at + from.length)]);
  };
  const cases: [Uint8Array, string, ...(string | RegExp)[]][] = [
    [new Uint8Array(0), 'TSM_CHECKPOINT_TRUNCATED', 'is empty'],
    [zip.subarray(0, zip.length - 30), 'TSM_CHECKPOINT_TRUNCATED', 'no end-of-central-directory'],
    [legacy.subarray(0, legacy.length - 3), 'TSM_CHECKPOINT_TRUNCATED', 'storage 1 needs 8 bytes', 'truncated'],
    [legacy.subarray(0, 200), 'TSM_CHECKPOINT_TRUNCATED', 'the pickle ends early'],
    [rezip(zip, (rs) => rs.filter((r) => !r.name.endsWith('data.pkl'))), 'TSM_CHECKPOINT_FORMAT', 'without <folder>/data.pkl', 'archive/data/0'],
    [rezip(zip, (rs) => rs.filter((r) => r.name !== 'archive/data/1')), 'TSM_CHECKPOINT_FORMAT', 'storage 1 (float32[2]) has no record archive/data/1'],
    [rezip(zip, (rs) => rs.map((r) => (r.name === 'archive/data/0' ? { ...r, data: r.data.subarray(0, 10) } : r))), 'TSM_CHECKPOINT_TRUNCATED', 'storage 0 (float32[4]) needs 16 bytes, its record has 10'],
    [rezip(zip, (rs) => rs.map((r) => (r.name === 'archive/byteorder' ? { ...r, data: new TextEncoder().encode('middle') } : r))), 'TSM_CHECKPOINT_FORMAT', 'unknown byteorder'],
    [withPickle((p) => replaceOnce(p, Buffer.from('FloatStorage'), Buffer.from('ShortStorage'))), 'TSM_CHECKPOINT_FORMAT', 'torch.ShortStorage is not supported'],
    [withPickle((p) => replaceOnce(p, Buffer.from('collections\nOrderedDict'), Buffer.from('collections\nOrderedDicx'))), 'TSM_CHECKPOINT_GLOBAL', 'collections.OrderedDicx'],
    // Shape (2, 2) -> (2, 9): the view needs 18 elements of a 4-element storage.
    [withPickle((p) => replaceOnce(p, Buffer.from([0x4b, 2, 0x4b, 2, 0x86]), Buffer.from([0x4b, 2, 0x4b, 9, 0x86]))), 'TSM_CHECKPOINT_SHAPE', 'reaches element'],
    [Buffer.concat([encodePickle(12345n), legacy.subarray(legacy.indexOf(0x80, 5))]), 'TSM_CHECKPOINT_FORMAT', 'wrong magic number 12345'],
    [Buffer.from('\x80\x02}q\x00.', 'latin1'), 'TSM_CHECKPOINT_FORMAT', 'wrong magic number'],
    [Buffer.from('hello world, not a checkpoint'), 'TSM_CHECKPOINT_FORMAT', 'not a PyTorch checkpoint', '68 65 6c 6c'],
    [Uint8Array.from({ length: 600 }, (_, i) => (i >= 257 && i < 262 ? 'ustar'.charCodeAt(i - 257) : 1)), 'TSM_CHECKPOINT_FORMAT', 'tar archive'],
  ];
  for (const [bytes, code, ...parts] of cases) assert.throws(() => parsePth(bytes, 'bad.pth'), isError(code, 'bad.pth', ...parts));
});

test('a legacy file whose storage list leaves a storage out reports the missing data', () => {
  // Rewrite the key list pickle to name only storage "0".
  const legacy = Buffer.from(small('legacy'));
  const keyList = Buffer.from(encodePickle(['0', '1']));
  const at = legacy.indexOf(keyList);
  assert.ok(at > 0);
  const cut = Buffer.concat([legacy.subarray(0, at), encodePickle(['0']), legacy.subarray(at + keyList.length, at + keyList.length + 8 + 16)]);
  assert.throws(() => parsePth(cut, 'bad.pth'), isError('TSM_CHECKPOINT_FORMAT', 'bad.pth', 'data of storage 1 (float32[2]) is missing'));
  const magic = encodePickle(LEGACY_MAGIC_NUMBER);
  assert.ok(legacy.subarray(0, magic.length).equals(magic));
});

test('readPth of a missing file is TSM_CHECKPOINT_IO naming the path', async () => {
  const p = join(dir, 'missing.pth');
  await assert.rejects(readPth(p), isError('TSM_CHECKPOINT_IO', p));
  writeFileSync(join(dir, 'ok.pth'), small('zip'));
  const file: PthFile = await readPth(join(dir, 'ok.pth'));
  assert.ok(isHostTensor((file.root as Map<string, Map<string, PickleValue>>).get('state_dict')?.get('w')));
});
