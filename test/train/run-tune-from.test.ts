/**
 * main.py `--tune_from` for a Flow model from an RGB checkpoint: the checkpoint's first conv takes 3 channels, the
 * Flow model's 2 * new_length, so main.py leaves that one weight out (`'conv1.weight' not in k`) and loads the
 * rest. Checked on the real path: an RGB checkpoint written by our pth writer, fine-tuned as Flow for one step on
 * synthetic frames read as flow (x, y in the red and green channels).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { extractStateDict, readPth, writePth } from '../../src/checkpoint/index.js';
import { makeSyntheticDataset } from '../../src/data/index.js';
import { TSN } from '../../src/models/tsn.js';
import { type HostTensor, float32 } from '../../src/tensor/index.js';
import { type RunEvent, trainTsn } from '../../src/train/run.js';
import { makeRng, randn } from '../helpers/rng.js';

let dir = '';
let rgb: Map<string, HostTensor>;
/** Not named after the dataset (so fc is not loaded) and not after Flow (so it is taken for an RGB checkpoint). */
let ckpt = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-tune-flow-'));
  await makeSyntheticDataset(join(dir, 'syn'), { classes: ['left', 'right'], clips: 3, size: 32, frames: 8, valFraction: 1 / 3, seed: 4 });
  mkdirSync(join(dir, 'flow'));
  writeFileSync(
    join(dir, 'flow', 'dataset.json'),
    JSON.stringify({ name: 'synflow', modality: 'Flow', categories: '../syn/category.txt', trainList: '../syn/train_videofolder.txt', valList: '../syn/val_videofolder.txt', root: '../syn/frames', flip: false }),
  );
  const model = new TSN({ numClass: 2, numSegments: 2, modality: 'RGB', baseModel: 'resnet18', isShift: true, dropout: 0.5 });
  // seeded values unlike any init (BatchNorm included), so a key left at init cannot pass for a loaded one
  const rng = makeRng(11);
  rgb = new Map(
    [...model.stateDict()].map(([k, t]) => [
      k,
      t.dtype === 'float32' ? float32(t.shape, randn(rng, t.data.length).map((v) => (k.endsWith('running_var') ? 1 + Math.abs(v) : 0.05 * v))) : t,
    ]),
  );
  ckpt = join(dir, 'TSM_other_RGB_resnet18_shift8_blockres_avg_segment2_e1.pth');
  await writePth(ckpt, { stateDict: new Map([...rgb].map(([k, t]) => [`module.${k}`, t])), meta: { epoch: 1, arch: 'resnet18' } });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const same = (a: HostTensor, b: HostTensor): boolean => a.shape.join() === b.shape.join() && a.data.every((v, i) => v === b.data[i]);

test('--tune-from an RGB checkpoint into a Flow model loads all but the first conv weight, and trains', async () => {
  const events: RunEvent[] = [];
  const res = await trainTsn(
    {
      dataset: join(dir, 'flow'), modality: 'Flow', arch: 'resnet18', numSegments: 2, shift: true, pretrain: 'scratch', tuneFrom: ckpt, epochs: 1, batchSize: 4,
      lr: 0.001, evalFreq: 1, workers: 0, inputSize: 32, rootLog: join(dir, 'log'), rootModel: join(dir, 'ck'), threads: 1,
    },
    (e) => events.push(e),
  );
  const steps = events.filter((e) => e.status === 'step');
  assert.equal(steps.length, 1, 'one training step (4 clips, batch 4)');
  assert.ok(steps.every((e) => Number.isFinite((e as { loss: number }).loss)));
  assert.ok(res.checkpoint);
  const { stateDict: saved } = extractStateDict(await readPth(res.checkpoint));
  // the Flow first conv: 2 * new_length (5) input channels, not the checkpoint's 3
  assert.deepEqual(saved.get('module.base_model.conv1.weight')?.shape, [64, 10, 7, 7]);
  // partial BN: only the first BatchNorm trains, so every later one still holds the checkpoint's values exactly
  const frozen = [...rgb.keys()].filter((k) => k.startsWith('base_model.layer') && /\.bn\d\.(weight|bias|running_mean|running_var)$/.test(k));
  assert.ok(frozen.length > 20);
  for (const k of frozen) assert.ok(same(saved.get(`module.${k}`) as HostTensor, rgb.get(k) as HostTensor), `${k} was loaded from the checkpoint`);
  const notes = events.filter((e) => e.status === 'note').map((e) => (e as { message: string }).message);
  assert.ok(notes.includes('new dataset, do not load fc weights'), notes.join('\n'));
  assert.ok(notes.includes('RGB checkpoint into a Flow model: base_model.conv1.weight is not loaded'), notes.join('\n'));
});
