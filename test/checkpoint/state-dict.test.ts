import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePth } from '../../src/checkpoint/pth-reader.js';
import { encodePth } from '../../src/checkpoint/pth-writer.js';
import { OrderedDict, PyFloat, type PickleValue } from '../../src/checkpoint/py-values.js';
import { extractStateDict, stripPrefix } from '../../src/checkpoint/state-dict.js';
import { CheckpointError } from '../../src/errors.js';
import { type HostTensor, float32, hostTensor } from '../../src/tensor/index.js';

const w = float32([2], [1, 2]);
const b = float32([1], [3]);
const sd = () => new OrderedDict<string, PickleValue>([['module.w', w], ['module.b', b]]);

test('finds state_dict in a TSM-style checkpoint and types epoch, arch and best_prec1', () => {
  const optimizer = new Map<string, PickleValue>([['state', new Map()]]);
  const root = new Map<string, PickleValue>([['epoch', 5], ['arch', 'resnet50'], ['state_dict', sd()], ['optimizer', optimizer], ['best_prec1', 71.5]]);
  const { stateDict, meta } = extractStateDict(root);
  assert.deepEqual([...stateDict.keys()], ['module.w', 'module.b']);
  assert.equal(stateDict.get('module.w'), w);
  assert.deepEqual(meta, { epoch: 5, arch: 'resnet50', optimizer, best_prec1: 71.5 });
});

test('best_prec1 may be a float, a PyFloat, an int or a one-element tensor; wrongly typed fields are left out', () => {
  const cases: [PickleValue, number | undefined][] = [
    [new PyFloat(50), 50],
    [12, 12],
    [float32([], [33.25]), 33.25],
    [hostTensor('float64', [1], new Float64Array([0.5])), 0.5],
    ['high', undefined],
    [float32([2], [1, 2]), undefined],
  ];
  for (const [value, want] of cases) {
    const { meta } = extractStateDict(new Map<string, PickleValue>([['state_dict', sd()], ['best_prec1', value], ['epoch', '3'], ['arch', 7]]));
    assert.equal(meta.best_prec1, want);
    assert.equal(meta.epoch, undefined);
    assert.equal(meta.arch, undefined);
    assert.ok('best_prec1' in meta === (want !== undefined));
  }
});

test('a plain dict of tensors is the state dict itself; meta is empty', () => {
  const file = parsePth(encodePth({ stateDict: { 'features.0.weight': w } }), 'plain.pth');
  const { stateDict, meta } = extractStateDict(file);
  assert.deepEqual([...stateDict.keys()], ['features.0.weight']);
  assert.deepEqual(meta, {});
});

test('{ key } picks another entry; a missing entry lists the top-level keys', () => {
  const root = new Map<string, PickleValue>([['model', sd()], ['epoch', 1]]);
  assert.deepEqual([...extractStateDict(root, { key: 'model' }).stateDict.keys()], ['module.w', 'module.b']);
  assert.throws(
    () => extractStateDict(root, { source: 'ck.pth' }),
    (e: unknown) =>
      e instanceof CheckpointError &&
      e.code === 'TSM_CHECKPOINT_KEY_MISSING' &&
      e.message.includes('ck.pth has no "state_dict" entry') &&
      e.message.includes('"model", "epoch"') &&
      e.message.includes('pass { key }'),
  );
  assert.throws(() => extractStateDict(root, { key: 'net' }), (e: unknown) => e instanceof CheckpointError && e.code === 'TSM_CHECKPOINT_KEY_MISSING');
});

test('non-tensors in a state dict and non-dict files are TSM_CHECKPOINT_FORMAT errors', () => {
  const bad = sd();
  bad.set('module.extra', 'text');
  const cases: [PickleValue, RegExp][] = [
    [new Map<string, PickleValue>([['state_dict', bad]]), /entry "module\.extra" is a str, expected a tensor/],
    [new Map<string, PickleValue>([['state_dict', [w]]]), /"state_dict" is a list of 1, not a dict of tensors/],
    [[w], /holds a list of 1, not a dict/],
  ];
  for (const [root, message] of cases) {
    assert.throws(() => extractStateDict(root, { source: 'x.pth' }), (e: unknown) => e instanceof CheckpointError && e.code === 'TSM_CHECKPOINT_FORMAT' && message.test(e.message));
  }
});

test('stripPrefix removes a prefix where present, keeps order, and refuses collisions', () => {
  const m = new Map<string, HostTensor>([['module.a', w], ['b', b], ['module.base_model.c', w]]);
  assert.deepEqual([...stripPrefix(m, 'module.').keys()], ['a', 'b', 'base_model.c']);
  assert.deepEqual([...stripPrefix(m, 'nothing.').keys()], [...m.keys()]);
  assert.throws(
    () => stripPrefix(new Map([['module.a', 1], ['a', 2]]), 'module.'),
    (e: unknown) => e instanceof CheckpointError && /turns two keys into "a"/.test(e.message),
  );
});
