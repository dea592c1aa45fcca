import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DATASETS, registerDataset, resolveDataset } from '../../src/data/dataset-config.js';
import { UsageError } from '../../src/errors.js';

test('the six original datasets with their class counts and templates', () => {
  assert.deepEqual(
    Object.fromEntries(Object.entries(DATASETS).map(([k, v]) => [k, v.numClasses])),
    { ucf101: 101, hmdb51: 51, something: 174, somethingv2: 174, jester: 27, kinetics: 400 },
  );
  assert.equal(DATASETS.something.modalities.Flow?.imageTmpl, '{:06d}-{}_{:05d}.jpg');
  assert.equal(DATASETS.ucf101.modalities.Flow?.imageTmpl, 'flow_{}_{:05d}.jpg');
  assert.equal(DATASETS.somethingv2.flip, false);
  assert.equal(DATASETS.jester.flip, false);
  assert.equal(DATASETS.kinetics.flip, true);
});

test('resolveDataset takes the root from the option or TSM_DATA_ROOT and reads category files', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsm-ds-'));
  mkdirSync(join(root, 'jester'));
  writeFileSync(join(root, 'jester', 'category.txt'), 'Doing other things\nNo gesture\n');
  const cfg = resolveDataset('jester', 'RGB', { env: { TSM_DATA_ROOT: root } });
  assert.deepEqual(cfg.categories, ['Doing other things', 'No gesture']);
  assert.equal(cfg.trainList, join(root, 'jester/train_videofolder.txt'));
  assert.equal(cfg.rootPath, join(root, 'jester/20bn-jester-v1'));
  assert.equal(cfg.imageTmpl, '{:05d}.jpg');
  const k = resolveDataset('kinetics', 'RGB', { rootPath: root });
  assert.equal(k.numClasses, 400);
  assert.throws(() => resolveDataset('kinetics', 'RGB', { env: {} }), (e: unknown) => e instanceof UsageError && /pass rootPath: DIR or set TSM_DATA_ROOT/.test(e.message));
  assert.throws(() => resolveDataset('kinetics', 'Flow', { rootPath: root }), /one of RGB/);
  assert.throws(() => resolveDataset('nope', 'RGB', { rootPath: root }), /Unsupported dataset: nope\. Must be one of \[ucf101, hmdb51, .*\] or a folder with a /);
});

test('custom datasets: registered by name, or a folder with dataset.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-custom-'));
  writeFileSync(join(dir, 'classes.txt'), 'a\nb\nc\n');
  writeFileSync(join(dir, 'dataset.json'), JSON.stringify({ name: 'mine', categories: 'classes.txt', trainList: 't.txt', valList: 'v.txt', root: 'frames', flip: false }));
  const cfg = resolveDataset(dir, 'RGB');
  assert.equal(cfg.numClasses, 3);
  assert.equal(cfg.rootPath, join(dir, 'frames'));
  assert.equal(cfg.flip, false);
  registerDataset('mine', { ...cfg });
  assert.equal(resolveDataset('mine', 'RGB').valList, join(dir, 'v.txt'));
  assert.throws(() => registerDataset('kinetics', cfg), /built-in/);
});
