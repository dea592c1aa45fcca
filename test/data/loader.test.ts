import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { DataError } from '../../src/errors.js';
import { DataLoader } from '../../src/data/loader.js';
import { RandomState } from '../../src/data/random.js';
import { makeSyntheticDataset } from '../../src/data/synthetic.js';
import { trainAugmentation, valCropping } from '../../src/data/transforms.js';
import { TSNDataSet } from '../../src/data/tsn-dataset.js';

let dir = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-loader-'));
  await makeSyntheticDataset(dir, { classes: ['left', 'right', 'up'], clips: 4, size: 48, frames: 10, valFraction: 0.25, seed: 3 });
});

const trainOpts = () => ({
  rootPath: join(dir, 'frames'),
  listFile: join(dir, 'train_videofolder.txt'),
  numSegments: 4,
  transform: trainAugmentation({ inputSize: 32, flip: true }),
});

async function collect(loader: DataLoader, epoch: number): Promise<{ sum: number; first: Float32Array; labels: bigint[]; shapes: string[] }> {
  let sum = 0;
  let first = new Float32Array(0);
  const labels: bigint[] = [];
  const shapes: string[] = [];
  for await (const b of loader.epoch(epoch)) {
    if (first.length === 0) first = b.input.data.slice();
    for (let i = 0; i < b.input.data.length; i += 97) sum += b.input.data[i];
    labels.push(...b.labels.data);
    shapes.push(b.input.shape.join('x'));
  }
  return { sum, first, labels, shapes };
}

test('loader batches [B, T*C, H, W], the same for a seed whatever the worker count', async () => {
  const inProcess = await DataLoader.create(trainOpts(), { batchSize: 4, shuffle: true, seed: 11, numWorkers: 0 });
  const workers = await DataLoader.create(trainOpts(), { batchSize: 4, shuffle: true, seed: 11, numWorkers: 2, prefetch: 1 });
  try {
    assert.equal(inProcess.dataset.length, 9);
    assert.equal(inProcess.length, 3);
    const a = await collect(inProcess, 0);
    const b = await collect(workers, 0);
    assert.deepEqual(a.shapes, ['4x12x32x32', '4x12x32x32', '1x12x32x32']);
    assert.deepEqual(b.labels, a.labels);
    assert.deepEqual(b.first, a.first);
    assert.equal(b.sum, a.sum);
    const c = await collect(workers, 1); // another epoch: another order and other augmentations
    assert.notEqual(c.sum, a.sum);
    assert.ok(a.first.every(Number.isFinite));
  } finally {
    await inProcess.close();
    await workers.close();
  }
});

test('validation loading is centre-sampled and centre-cropped, with dropLast', async () => {
  const loader = await DataLoader.create(
    { rootPath: join(dir, 'frames'), listFile: join(dir, 'val_videofolder.txt'), numSegments: 4, randomShift: false, transform: valCropping({ cropSize: 32, scaleSize: 36 }) },
    { batchSize: 2, numWorkers: 1, dropLast: true },
  );
  try {
    const got = await collect(loader, 0);
    assert.deepEqual(got.shapes, ['2x12x32x32']);
    const ds = loader.dataset;
    assert.deepEqual(ds.indicesFor(0, new RandomState(9)), [2, 4, 7, 9]); // tick 2.5: int(1.25 + 2.5x) + 1
  } finally {
    await loader.close();
  }
});

test('a broken JPEG is a DataError naming the file, from a worker too', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsm-broken-'));
  const clip = join(dir, 'frames', 'left', 'left_00001');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(root, 'v'));
  for (let i = 1; i <= 10; i++) copyFileSync(join(clip, `img_${String(i).padStart(5, '0')}.jpg`), join(root, 'v', `img_${String(i).padStart(5, '0')}.jpg`));
  writeFileSync(join(root, 'v', 'img_00004.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
  writeFileSync(join(root, 'list.txt'), 'v 10 0\n');
  const opts = { rootPath: root, listFile: join(root, 'list.txt'), numSegments: 4, randomShift: false }; // loads frames 2, 4, 7, 9
  const ds = await TSNDataSet.open(opts);
  await assert.rejects(ds.getItem(0), (e: unknown) => e instanceof DataError && e.message.includes(join(root, 'v', 'img_00004.jpg')));
  // the list file and line of the video come first, so the user knows which line to fix
  const named = `${join(root, 'list.txt')}:1: video v: cannot decode ${join(root, 'v', 'img_00004.jpg')}`;
  await assert.rejects(ds.getItem(0), (e: unknown) => e instanceof DataError && e.message.startsWith(named));
  const loader = await DataLoader.create(opts, { batchSize: 1, numWorkers: 1 });
  try {
    await assert.rejects(collect(loader, 0), (e: unknown) => e instanceof DataError && e.code === 'TSM_DATA' && e.message.startsWith(named));
  } finally {
    await loader.close();
  }
});

test('labels outside numClasses are reported when opening, naming the list file, line and valid range', async () => {
  const list = join(dir, 'labels.txt');
  writeFileSync(list, 'left/left_00001 10 0\n\nleft/left_00002 10 3\nleft/left_00003 10 7\n');
  const opts = { rootPath: join(dir, 'frames'), listFile: list };
  await assert.rejects(
    TSNDataSet.open({ ...opts, numClasses: 3 }),
    (e: unknown) => e instanceof DataError && e.message.startsWith(`${list}:3: label 3 of left/left_00002 is outside the 3 classes (valid labels 0..2); 2 lines have labels out of range`),
  );
  assert.equal((await TSNDataSet.open({ ...opts, numClasses: 8 })).length, 3);
  assert.equal((await TSNDataSet.open(opts)).length, 3, 'unchecked without numClasses');
});

test('missing frame folders are reported when opening, and skipped only on request', async () => {
  const list = join(dir, 'with-missing.txt');
  writeFileSync(list, 'left/left_00001 10 0\nleft/nope 10 0\nleft/left_00002 40 0\nleft/left_00003 2 0\n');
  await assert.rejects(TSNDataSet.open({ rootPath: join(dir, 'frames'), listFile: list }), /2 of 3 videos in .*with-missing\.txt have missing or too-short frame folders:\n {2}line 2: .*nope does not exist\n {2}line 3: .*img_00040\.jpg is missing/);
  const ds = await TSNDataSet.open({ rootPath: join(dir, 'frames'), listFile: list, skipMissing: true });
  assert.equal(ds.length, 1);
  assert.deepEqual(ds.dropped.map((d) => d.kind).sort(), ['missing', 'too-short', 'too-short']);
});

test('training sampling decodes JPEGs fast (within a level or so of PIL), evaluation exactly', async () => {
  const base = { rootPath: join(dir, 'frames'), listFile: join(dir, 'train_videofolder.txt'), numSegments: 4 };
  const train = await TSNDataSet.open({ ...base, transform: trainAugmentation({ inputSize: 40 }) });
  const exactTrain = await TSNDataSet.open({ ...base, transform: trainAugmentation({ inputSize: 40 }), fastDecode: false });
  assert.equal(train.options.fastDecode, true);
  let maxDiff = 0;
  for (let i = 0; i < 4; i++) {
    const a = await train.getItem(i, new RandomState(100 + i));
    const b = await exactTrain.getItem(i, new RandomState(100 + i));
    assert.deepEqual(a.indices, b.indices);
    assert.deepEqual(a.input.shape, [12, 40, 40]);
    for (let k = 0; k < a.input.data.length; k++) maxDiff = Math.max(maxDiff, Math.abs(a.input.data[k] - b.input.data[k]));
  }
  const level = 1 / 255 / 0.225;
  assert.ok(maxDiff > 0 && maxDiff < 8 * level, `fast vs exact decode: max |diff| ${(maxDiff / level).toFixed(2)} levels`);
  for (const opts of [{ randomShift: false }, { randomShift: false, testMode: true }]) {
    const ds = await TSNDataSet.open({ ...base, ...opts, transform: valCropping({ cropSize: 40, scaleSize: 48 }) });
    assert.equal(ds.options.fastDecode, false, JSON.stringify(opts));
  }
});

test('closing a loader in the middle of an epoch lets the workers finish their batches and exit, again and again', async () => {
  for (let k = 0; k < 4; k++) {
    const loader = await DataLoader.create(trainOpts(), { batchSize: 2, shuffle: true, seed: k, numWorkers: 2, prefetch: 3 });
    for await (const b of loader.epoch(0)) {
      assert.equal(b.input.shape[0], 2);
      break; // batches are still loading in both workers
    }
    await loader.close();
  }
});
